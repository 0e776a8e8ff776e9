// The errors the API answers with, the same over ubus, the local socket and
// the CLI: a code a program can branch on and a sentence a person can act on.

export type ApiErrorCode = "invalid-argument" | "method-not-found" | "not-found" | "not-supported" | "permission-denied" | "failed";

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
  }
}
