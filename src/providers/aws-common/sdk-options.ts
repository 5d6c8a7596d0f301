/**
 * SDK settings every AWS client here shares. Few attempts: a throttling storm or an unreachable
 * endpoint ends in a clear error after a bounded number of calls, well inside a caller's deadline
 * (each call is also bounded by the caller's abort signal).
 */
export const AWS_MAX_ATTEMPTS = 3;

export const awsRequestHandler = { connectionTimeout: 2_000, requestTimeout: 8_000 };
