// The part of autocannon 9's programmatic API that the benchmark runner uses.
// autocannon ships no type definitions; these follow its README and lib/run.js.
declare module 'autocannon' {
  interface RequestParams {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }

  interface Request extends RequestParams {
    /** Called before every request; returns the request to send. */
    setupRequest?: (request: RequestParams, context: Record<string, unknown>) => RequestParams;
  }

  interface Options {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    /** Total requests; overrides duration. */
    amount?: number;
    /** Seconds before a request counts as timed out. */
    timeout?: number;
    pipelining?: number;
    requests?: Request[];
  }

  interface Histogram {
    average: number;
    mean: number;
    p50: number;
    p99: number;
    max: number;
    /** Sum of the samples: completed requests in the requests histogram. */
    total: number;
  }

  interface Result {
    /** Latency in milliseconds. */
    latency: Histogram;
    /** Completed requests per second, sampled each second. */
    requests: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    /** Seconds. */
    duration: number;
  }

  interface Instance {
    stop(): void;
  }

  function autocannon(options: Options): Promise<Result> & Instance;
  export default autocannon;
  export type { Options, Request, RequestParams, Result };
}
