package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/rsa"
	"reflect"
	"unsafe"
)

// Wipe zeroes the private parts of a parsed private key in place; the key
// is unusable afterwards. Call it when a key parsed or generated outside a
// [Signer] (an import, a key generated for a CSR) is no longer needed. For
// RSA it reaches the FIPS module's copy of the key, which crypto/rsa keeps
// in an unexported field of Precomputed. It accepts nil and does nothing for
// key types it does not know.
func Wipe(k crypto.Signer) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		wipeValue(reflect.ValueOf(k), map[uintptr]bool{})
		*k = rsa.PrivateKey{}
	case *ecdsa.PrivateKey:
		wipeValue(reflect.ValueOf(k), map[uintptr]bool{})
		*k = ecdsa.PrivateKey{}
	case *mldsa.PrivateKey:
		*k = mldsa.PrivateKey{} // the key's arrays are stored inline
	case ed25519.PrivateKey:
		clear(k)
	}
}

// wipeValue zeroes every integer reachable from v through pointers,
// structs, slices and arrays, including unexported fields. It does not
// follow interfaces, maps, functions or channels, which could lead to
// shared state (a curve's parameters, for instance); seen stops cycles.
func wipeValue(v reflect.Value, seen map[uintptr]bool) {
	if v.CanAddr() && !v.CanSet() {
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		wipeValue(v.Elem(), seen)
	case reflect.Struct:
		for i := range v.NumField() {
			wipeValue(v.Field(i), seen)
		}
	case reflect.Slice:
		if n := v.Len() * int(v.Type().Elem().Size()); n > 0 && isInteger(v.Type().Elem().Kind()) {
			clear(unsafe.Slice((*byte)(v.UnsafePointer()), n)) // limbs and bytes in one go
			return
		}
		for i := range v.Len() {
			wipeValue(v.Index(i), seen)
		}
	case reflect.Array:
		for i := range v.Len() {
			wipeValue(v.Index(i), seen)
		}
	default:
		if (isInteger(v.Kind()) || v.Kind() == reflect.Bool) && v.CanSet() {
			v.SetZero()
		}
	}
}

func isInteger(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Uintptr
}
