// A minimal pcap reader for the capture checks: Ethernet frames with their bytes.
import { readFileSync } from 'node:fs';

export function readPcap(path: string): Buffer[] {
  const buf = readFileSync(path);
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const frames: Buffer[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const incl = u32(off + 8);
    frames.push(buf.subarray(off + 16, off + 16 + incl));
    off += 16 + incl;
  }
  return frames;
}
