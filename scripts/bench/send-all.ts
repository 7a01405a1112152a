// Writes `total` bytes of filler to a stream in 64 KiB chunks, honouring backpressure, then ends it: the
// sending side of every TCP throughput row in bench:netstack (in-process and in the peer processes).
export const SEND_CHUNK = 64 << 10;

export function sendAll(s: NodeJS.WritableStream, total: number): void {
  const chunk = Buffer.alloc(SEND_CHUNK, 0x5a);
  let sent = 0;
  const pump = (): void => {
    while (sent < total) {
      sent += SEND_CHUNK;
      if (!s.write(chunk)) {
        s.once('drain', pump);
        return;
      }
    }
    s.end();
  };
  pump();
}
