package v1alpha1

// EntityName is the name of a Statsig feature gate, dynamic config, experiment or layer as the SDK
// API takes it: 2 to 100 characters of letters, digits, '_', '-', '.' and spaces.
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=100
// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_\-. ]+$`
type EntityName string

// ConfigMapName is the name of a ConfigMap the operator writes: a DNS-1123 subdomain.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="a ConfigMap name must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
type ConfigMapName string
