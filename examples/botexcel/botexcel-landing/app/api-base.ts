// The backend's base URL: devstack sets it from ${services.backend.url}.
export function apiBase(): string {
  return process.env.BOTEXCEL_API_BASE ?? "http://127.0.0.1:5000";
}

// Node's fetch hides the socket error (ECONNREFUSED ...) in `cause`: show both.
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
