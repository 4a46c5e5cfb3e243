import { apiBase, errorText } from "./api-base";

// Rendered per request: the health shown is the backend's right now.
export const dynamic = "force-dynamic";

async function backendHealth(): Promise<string> {
  const url = `${apiBase()}/api/health`;
  try {
    const response = await fetch(url, { cache: "no-store" });
    return `${response.status} ${await response.text()}`;
  } catch (error) {
    return `unreachable: ${errorText(error)}`;
  }
}

export default async function Home() {
  const health = await backendHealth();
  return (
    <main className="flex flex-1 flex-col items-center justify-center gap-4 p-16">
      <h1 className="text-3xl font-semibold tracking-tight">botexcel</h1>
      <p className="text-sm">
        Backend ({apiBase()}): <code className="font-mono font-semibold">{health}</code>
      </p>
    </main>
  );
}
