"""The shopper's privacy page: see, withdraw or delete what the backend stores about them.

The kiosk's privacy receipt is a QR code for ``/privacy?code=...``. The page is static:
the privacy code is read from the address by the page's own script (never templated into
the HTML by the server, so nothing a visitor types is reflected), and the shopper adds
their claim (phone number) before anything is fetched from the shopper-rights endpoints
(``docs/protocol.md``, "Shopper rights"). ``no-store`` and ``no-referrer`` keep the code
out of caches and out of other sites' logs.
"""

from __future__ import annotations

__all__ = ["PRIVACY_PAGE", "PRIVACY_PAGE_HEADERS"]

PRIVACY_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'"
    ),
}

PRIVACY_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your face pay data</title>
<style>
 body { font: 18px/1.5 system-ui, sans-serif; max-width: 36em; margin: 2em auto;
        padding: 0 1em; color: #111; }
 label { display: block; margin-top: 1em; font-weight: 600; }
 input { font: inherit; width: 100%; padding: .5em; box-sizing: border-box; }
 button { font: inherit; margin: 1em .5em 0 0; padding: .6em 1.2em; min-height: 48px; }
 pre { background: #f4f4f4; padding: 1em; white-space: pre-wrap; word-break: break-word; }
 .danger { background: #a00; color: #fff; border: 0; }
</style>
</head>
<body>
<h1>Your face pay data</h1>
<p>Enter the privacy code from your receipt and the phone number you enrolled with. You
can see everything stored about you, stop face payments, or delete yourself. Your face
picture was never stored; your face template is encrypted and is destroyed when you
withdraw or delete.</p>
<label for="code">Privacy code</label>
<input id="code" autocomplete="off" spellcheck="false" placeholder="K7QD-3MXA-9P2F">
<label for="phone">Phone number (with country code)</label>
<input id="phone" type="tel" autocomplete="tel" placeholder="+4915112345678">
<div>
 <button id="export">Show my data</button>
 <button id="withdraw">Stop face payments</button>
 <button id="delete" class="danger">Delete me</button>
</div>
<pre id="out" aria-live="polite"></pre>
<script>
 const params = new URLSearchParams(location.search);
 document.getElementById("code").value = params.get("code") || "";
 history.replaceState(null, "", location.pathname);
 const out = document.getElementById("out");
 async function call(action, confirmText) {
   if (confirmText && !confirm(confirmText)) return;
   const body = {
     privacy_code: document.getElementById("code").value.trim(),
     claim: {kind: "phone", value: document.getElementById("phone").value.trim()},
   };
   out.textContent = "...";
   try {
     const r = await fetch("/v1/shoppers/" + action, {
       method: "POST", headers: {"Content-Type": "application/json"},
       body: JSON.stringify(body),
     });
     out.textContent = JSON.stringify(await r.json(), null, 2);
   } catch (e) {
     out.textContent = "The service could not be reached. Nothing was changed.";
   }
 }
 document.getElementById("export").onclick = () => call("export");
 document.getElementById("withdraw").onclick =
   () => call("withdraw-consent", "Stop paying with your face? Your template is destroyed.");
 document.getElementById("delete").onclick =
   () => call("delete", "Delete everything stored about you? This cannot be undone.");
</script>
</body>
</html>
"""
