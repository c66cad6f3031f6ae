import thrift from 'thrift';
import { IMService, type IMServiceClient } from '../../src/rpc/generated.js';
import type { TransportKind } from './thrift-wire.js';

/** Opens one connection and returns an IMService client of the thrift runtime on it. */
export async function openThriftClient(
  host: string,
  port: number,
  kind: TransportKind,
): Promise<{ client: IMServiceClient; close: () => void }> {
  const connection = thrift.createConnection(host, port, {
    transport: kind === 'framed' ? thrift.TFramedTransport : thrift.TBufferedTransport,
    protocol: thrift.TBinaryProtocol,
  });
  await new Promise<void>((resolve, reject) => {
    connection.once('connect', () => resolve());
    connection.once('error', reject);
  });
  connection.on('error', () => undefined);
  const client = thrift.createClient(IMService as never, connection) as unknown as IMServiceClient;
  return { client, close: () => connection.end() };
}
