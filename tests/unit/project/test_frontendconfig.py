"""Reading a frontend's proxy targets from next.config / vite.config text (never run)."""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack.project.frontendconfig import blank_comments, proxy_targets

FIXTURES = Path(__file__).parents[2] / "fixtures" / "frontend-proxy"


def test_a_real_next_config_rewrite_is_read_with_its_source_and_line(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "rl-maze" / "next.config.js", tmp_path)
    (target,) = proxy_targets(tmp_path)
    assert (target.line, target.port, target.route, target.key) == (
        7,
        5328,
        "/api/:path*",
        "destination",
    )
    assert target.url == "http://127.0.0.1:5328/api/:path*"


def test_a_real_vite_proxy_target_is_read_with_its_path_key(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "llm-rag-agent" / "vite.config.ts", tmp_path)
    (target,) = proxy_targets(tmp_path)
    assert (target.line, target.port, target.route, target.key) == (10, 8000, "/api", "target")


def test_shorthand_variables_fallbacks_and_comments(tmp_path: Path) -> None:
    (tmp_path / "vite.config.js").write_text(
        """const backendTarget = "http://localhost:8000";
// proxy: { '/old': 'http://localhost:9999' }
/* '/older': 'http://localhost:9998' */
export default defineConfig({
  server: { port: 3000, origin: 'http://localhost:3000',
    proxy: { "/v1": { target: backendTarget }, '/ws': 'ws://127.0.0.1:8001',
      '/x': { target: process.env.API_URL || 'http://127.0.0.1:7000' } } },
});
"""
    )
    found = {(t.line, t.key, t.route, t.port, t.env_var) for t in proxy_targets(tmp_path)}
    assert found == {
        (1, "target", None, 8000, None),  # used as /v1's target
        (6, "/ws", "/ws", 8001, None),
        (7, "target", "/x", 7000, "API_URL"),
    }  # origin (the dev server's own address) and the commented-out ones are no targets


def test_a_template_port_with_an_env_fallback(tmp_path: Path) -> None:
    (tmp_path / "next.config.mjs").write_text(
        "export default { async rewrites() { return [{ source: '/api/:path*',\n"
        "  destination: `http://127.0.0.1:${process.env.FLASK_PORT || 5328}/api/:path*` }] } }\n"
    )
    (target,) = proxy_targets(tmp_path)
    assert (target.line, target.port, target.env_var, target.route) == (
        2,
        5328,
        "FLASK_PORT",
        "/api/:path*",
    )


def test_blank_comments_keeps_urls_in_strings_and_lines() -> None:
    text = "a = 'http://x:1' // c\n/* b\n */ b = \"//y\""
    blanked = blank_comments(text)
    assert blanked.count("\n") == text.count("\n")
    assert "'http://x:1'" in blanked and '"//y"' in blanked
    assert "// c" not in blanked and "/* b" not in blanked
