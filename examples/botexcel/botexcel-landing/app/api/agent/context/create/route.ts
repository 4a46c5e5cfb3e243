import { apiBase, errorText } from "../../../../api-base";

// Proxies to the backend unchanged (status and body); 500 with the socket error when it is down.
export async function POST(request: Request): Promise<Response> {
  const headers: Record<string, string> = {
    "Content-Type": request.headers.get("content-type") ?? "application/json",
  };
  const auth = request.headers.get("authorization");
  if (auth) headers.Authorization = auth;
  try {
    const upstream = await fetch(`${apiBase()}/api/agent/context/create`, {
      method: "POST",
      headers,
      body: await request.text(),
      cache: "no-store",
    });
    return new Response(await upstream.text(), {
      status: upstream.status,
      headers: { "Content-Type": upstream.headers.get("content-type") ?? "application/json" },
    });
  } catch (error) {
    return Response.json({ error: errorText(error) }, { status: 500 });
  }
}
