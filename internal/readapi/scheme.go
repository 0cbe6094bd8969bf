package readapi

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	queryv1alpha1 "github.com/kubesift/kubesift/api/query/v1alpha1"
)

var (
	// scheme holds the read API's types. The generic server decodes requests into an internal
	// ("hub") version before handing them to storage; the read API has one version, so the same Go
	// types are registered as that internal version too and conversion is a copy.
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() {
	utilruntime.Must(queryv1alpha1.AddToScheme(scheme))
	scheme.AddKnownTypes(schema.GroupVersion{Group: queryv1alpha1.GroupName, Version: runtime.APIVersionInternal},
		&queryv1alpha1.Search{}, &queryv1alpha1.ClusterSearch{})
	utilruntime.Must(scheme.SetVersionPriority(queryv1alpha1.GroupVersion))
	// Options such as CreateOptions live in the empty group's v1.
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	unversioned := schema.GroupVersion{Version: "v1"}
	scheme.AddUnversionedTypes(unversioned,
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
}

var parameterCodec = runtime.NewParameterCodec(scheme)
