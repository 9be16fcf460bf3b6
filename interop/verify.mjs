// verify.mjs checks webhook deliveries with the two official Standard Webhooks verifiers for
// JavaScript, exactly as a receiver would call them. The Go end-to-end test
// e2e/interop_test.go captures real deliveries from a running hookrelay, writes them as cases
// to a JSON file, runs `node verify.mjs cases.json` and asserts on what it prints. This script
// decides nothing itself: it reports, per case and per library, whether verify() accepted the
// delivery or the error it threw.
//
// A case is {"name", "secret", "headers": {...}, "bodyBase64", "now"}: bodyBase64 carries the
// exact bytes received; "now" (unix seconds, optional) is the receiver's clock. Both libraries
// read the clock through Date.now() and nothing else (standardwebhooks' verifyTimestamp; svix
// 2.5.0 delegates to standardwebhooks), so setting Date.now checks a real, unmodified delivery
// as if it arrived later, e.g. 6 minutes after it was signed.
import { readFileSync } from "node:fs";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";

const libraries = {
	standardwebhooks: (secret, body, headers) => new StandardWebhook(secret).verify(body, headers),
	svix: (secret, body, headers) => new SvixWebhook(secret).verify(body, headers),
};

function check(verify, c) {
	const realNow = Date.now;
	if (c.now != null) {
		Date.now = () => c.now * 1000;
	}
	try {
		verify(c.secret, Buffer.from(c.bodyBase64, "base64"), c.headers);
		return { ok: true };
	} catch (err) {
		return { ok: false, error: String(err?.message ?? err) };
	} finally {
		Date.now = realNow;
	}
}

const file = process.argv[2];
if (!file) {
	console.error("usage: node verify.mjs cases.json");
	process.exit(2);
}
const cases = JSON.parse(readFileSync(file, "utf8"));
const results = cases.map((c) => {
	const out = { name: c.name };
	for (const [lib, verify] of Object.entries(libraries)) {
		out[lib] = check(verify, c);
	}
	return out;
});
console.log(JSON.stringify({ node: process.version, results }, null, 2));
