package index

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func typesUID(s string) types.UID { return types.UID(s) }

func metaTime(t time.Time) metav1.Time { return metav1.NewTime(t) }

type metav1OwnerReference = metav1.OwnerReference
