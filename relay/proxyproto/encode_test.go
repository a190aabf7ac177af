package proxyproto

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// encode returns h as a header of h.Version, with tlvs after a v2 address
// block (ignored for v1). A v1 or v2 header is TCP4 when both addresses
// are IPv4, TCP6 otherwise, an IPv4 address then written IPv4-mapped.
func encode(h Header, tlvs []byte) []byte {
	both4 := h.Source.Addr().Is4() && h.Destination.Addr().Is4()
	if h.Version == 1 {
		if h.Local {
			return []byte("PROXY UNKNOWN\r\n")
		}
		if both4 {
			return fmt.Appendf(nil, "PROXY TCP4 %s %s %d %d\r\n", h.Source.Addr(), h.Destination.Addr(), h.Source.Port(), h.Destination.Port())
		}
		return fmt.Appendf(nil, "PROXY TCP6 %s %s %d %d\r\n", as6(h.Source.Addr()), as6(h.Destination.Addr()), h.Source.Port(), h.Destination.Port())
	}
	b := []byte(v2Signature)
	if h.Local {
		b = append(b, 0x20|v2Local, 0x00)
		b = binary.BigEndian.AppendUint16(b, uint16(len(tlvs)))
		return append(b, tlvs...)
	}
	if both4 {
		b = append(b, 0x20|v2Proxy, v2TCP4)
		b = binary.BigEndian.AppendUint16(b, uint16(v2AddrLen4+len(tlvs)))
		b = append(b, h.Source.Addr().AsSlice()...)
		b = append(b, h.Destination.Addr().AsSlice()...)
	} else {
		b = append(b, 0x20|v2Proxy, v2TCP6)
		b = binary.BigEndian.AppendUint16(b, uint16(v2AddrLen6+len(tlvs)))
		s, d := h.Source.Addr().As16(), h.Destination.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, h.Source.Port())
	b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
	return append(b, tlvs...)
}

// as6 returns a as an IPv6 address, IPv4-mapped if need be.
func as6(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
