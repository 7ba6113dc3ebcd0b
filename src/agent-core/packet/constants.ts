// Protocol numbers and message types by their RFC/IANA names (RFC 792, RFC 4443, RFC 4861, RFC 826, RFC 7348).

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

// ICMPv4 types (RFC 792)
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
// ICMPv4 destination-unreachable codes (RFC 792, RFC 1812)
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_PKT_FILTERED = 13; // communication administratively prohibited
// ICMPv4 time-exceeded codes
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

// ICMPv6 types (RFC 4443, RFC 4861)
export const ICMP6_DST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROB = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ND_ROUTER_SOLICIT = 133;
export const ND_ROUTER_ADVERT = 134;
export const ND_NEIGHBOR_SOLICIT = 135;
export const ND_NEIGHBOR_ADVERT = 136;
// ICMPv6 destination-unreachable codes
export const ICMP6_DST_UNREACH_NOROUTE = 0;
export const ICMP6_DST_UNREACH_ADMIN = 1;
export const ICMP6_DST_UNREACH_ADDR = 3;
export const ICMP6_DST_UNREACH_NOPORT = 4;
// ICMPv6 time-exceeded codes
export const ICMP6_TIME_EXCEED_TRANSIT = 0;
// ND options (RFC 4861 4.6)
export const ND_OPT_SOURCE_LINKADDR = 1;
export const ND_OPT_TARGET_LINKADDR = 2;

// IPv6 extension headers walked to reach the L4 header (RFC 8200)
export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;
export const IPPROTO_GRE = 47;

export const VXLAN_PORT_IANA = 4789;
export const VXLAN_PORT_TOLLGATE = 6677;
/** Tunnel key reserved for flow-state messages (DESIGN: Tunnels). */
export const TUNNEL_KEY_FLOW_STATE = 0xffffff;
/** Tunnel key bit marking a traced packet. */
export const TUNNEL_KEY_TRACE_BIT = 0x800000;

export const IPV4_MIN_MTU = 576;
export const IPV6_MIN_MTU = 1280;
export const DEFAULT_MTU = 1500;

// Added for the ICMP error classification of packet/icmp.ts (RFC 792, RFC 4861 8).
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_PARAMETERPROB = 12;
export const ND_REDIRECT = 137;
