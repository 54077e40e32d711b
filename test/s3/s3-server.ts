/**
 * An in-process S3-compatible server (s3rver 3.7.1) for tests: it listens on
 * 127.0.0.1 at a free port, keeps its objects in a temp folder, and is gone
 * after `stop()`. Tests reach it with path-style requests and its fixed
 * credentials, so no DNS or vhost setup is needed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';

/** The slice of s3rver's class these tests use (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
  /** Off: path-style only, so a bucket name never has to resolve as a host. */
  vhostBuckets: boolean;
}) => S3rverInstance;

/** s3rver checks signatures against these fixed keys. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface TestS3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** A client on the server, built with the same options a store would use. */
  client: S3Client;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver with the given buckets already created.
 *
 * @example
 * ```ts
 * const s3 = await startTestS3Server(['flock']);
 * // ... new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS, region: 'us-east-1' })
 * await s3.stop();
 * ```
 */
export async function startTestS3Server(buckets: string[] = []): Promise<TestS3Server> {
  // createRequire: s3rver is CommonJS without type declarations.
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(join(tmpdir(), 'flock-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: buckets.map((name) => ({ name })),
    vhostBuckets: false,
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    // As the store builds its client: no default CRC32 / aws-chunked uploads,
    // which s3rver 3.7.1 (2020) predates.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    client,
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
