// kstatus: prints the kstatus result (sigs.k8s.io/cli-utils/pkg/kstatus/status) of Kubernetes objects.
// Reads one JSON object, a JSON list ({"items": [...]}) or a stream of YAML documents on stdin; prints one
// JSON line per object: {"kind", "namespace", "name", "status", "message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func emit(obj map[string]interface{}) error {
	u := &unstructured.Unstructured{Object: obj}
	if items, ok := obj["items"].([]interface{}); ok && u.GetKind() != "" && len(u.GetKind()) > 4 && u.GetKind()[len(u.GetKind())-4:] == "List" {
		for _, it := range items {
			if m, ok := it.(map[string]interface{}); ok {
				if err := emit(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	res, err := status.Compute(u)
	if err != nil {
		return err
	}
	out, _ := json.Marshal(map[string]string{
		"kind": u.GetKind(), "namespace": u.GetNamespace(), "name": u.GetName(),
		"status": res.Status.String(), "message": res.Message,
	})
	fmt.Println(string(out))
	return nil
}

func main() {
	dec := yaml.NewYAMLOrJSONDecoder(os.Stdin, 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		// unstructured's JSON decoding keeps integers int64, as the apiserver's clients see them
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(2)
		}
		if err := emit(u.Object); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(1)
		}
	}
}
