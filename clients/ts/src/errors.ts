import type { ErrorBody, ErrorCode } from "./types.js";

/**
 * A failed call: the server's error code and message (`{"error": {code, message}}`), the
 * HTTP status for REST calls, and how long to wait for `rate_limited`.
 */
export class ConfabError extends Error {
  readonly code: ErrorCode | "network";
  readonly status: number | null;
  /** Seconds to wait before trying again (`Retry-After`), for `rate_limited`. */
  readonly retryAfter: number | null;

  constructor(
    code: ErrorCode | "network",
    message: string,
    status: number | null = null,
    retryAfter: number | null = null,
  ) {
    super(message);
    this.name = "ConfabError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }

  /** Whether the same request may succeed later: the network, a busy or failing server. */
  get retryable(): boolean {
    return (
      this.code === "network" ||
      this.code === "unavailable" ||
      this.code === "rate_limited" ||
      this.code === "internal"
    );
  }

  /** From an error body, or from whatever a failed response carried. */
  static from(body: unknown, status: number | null, retryAfter: number | null = null): ConfabError {
    const error = (body as ErrorBody | null)?.error;
    if (error && typeof error.code === "string") {
      return new ConfabError(error.code, error.message ?? error.code, status, retryAfter);
    }
    const code: ErrorCode = status !== null && status >= 500 ? "internal" : "bad_request";
    return new ConfabError(code, `unexpected answer (HTTP ${status ?? "?"})`, status, retryAfter);
  }
}
