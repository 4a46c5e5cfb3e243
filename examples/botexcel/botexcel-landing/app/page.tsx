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
    <main>
      <h1>botexcel</h1>
      <p>
        Backend ({apiBase()}): <code>{health}</code>
      </p>
    </main>
  );
}
