import net, { type AddressInfo } from 'node:net';

/**
 * Returns a loopback port that was free a moment ago: the OS picks it for a
 * listener that is closed again. Another process may take it before the
 * caller binds it, which is unlikely on a test machine.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
