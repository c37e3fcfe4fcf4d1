/** Bytes a `udp` wire adds around the inner frame's payload: outer IPv4 (20) + UDP (8) + Banana
 * header (16) + the inner Ethernet header (14). Inner MTU = underlay MTU - 58. */
export const UDP_OVERHEAD = 58;
