package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the secret text")
	sealed := s.Seal(plain, []byte("conv-1"))
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value holds the plain text")
	}
	if again := s.Seal(plain, []byte("conv-1")); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	got, err := s.Open(sealed, []byte("conv-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	for _, tc := range []struct {
		name   string
		s      *Sealer
		sealed []byte
		ad     string
	}{
		{"other additional data", s, sealed, "conv-2"},
		{"other key", other, sealed, "conv-1"},
		{"damaged", s, append(append([]byte(nil), sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "conv-1"},
		{"too short", s, sealed[:5], "conv-1"},
		{"empty", s, nil, "conv-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.s.Open(tc.sealed, []byte(tc.ad)); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

func TestNewWantsAESKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes) = nil error", n)
		}
	}
}
