// Starts examples/basic for Uppy: its files in a fresh bucket on the S3
// service of CARCOSA_TEST_S3_ENDPOINT (MinIO in CI; AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION), scanned by the clamd at
// CARCOSA_TEST_CLAMD. Without them the tests skip, saying which to set,
// except under CI, where they must be there.
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { startExample } from "../../../packages/client/test/global-setup.js";

declare module "vitest" {
  export interface ProvidedContext {
    carcosaURL: string;
    /** Why the tests cannot run, when they cannot. */
    uppySkip: string;
    /** The bucket's URL, e.g. "http://127.0.0.1:9000/carcosa-uppy-…". */
    bucketURL: string;
  }
}

export default async function setup(project: TestProject) {
  const endpoint = process.env.CARCOSA_TEST_S3_ENDPOINT;
  const clamd = process.env.CARCOSA_TEST_CLAMD;
  const key = process.env.AWS_ACCESS_KEY_ID;
  const secret = process.env.AWS_SECRET_ACCESS_KEY;
  const region = process.env.AWS_REGION || "us-east-1";
  if (!endpoint || !clamd || !key || !secret) {
    const why = "set CARCOSA_TEST_S3_ENDPOINT (with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and CARCOSA_TEST_CLAMD to run Uppy's browser tests";
    if (process.env.CI) throw new Error(why);
    project.provide("uppySkip", why);
    project.provide("carcosaURL", "");
    project.provide("bucketURL", "");
    return;
  }
  const bucket = "carcosa-uppy-" + randomBytes(6).toString("hex");
  await createBucket(endpoint, bucket, key, secret, region);
  project.provide("uppySkip", "");
  project.provide("bucketURL", `${endpoint.replace(/\/$/, "")}/${bucket}`);
  const storage = `s3://${bucket}?endpoint=${encodeURIComponent(endpoint)}&use_path_style=true&region=${region}`;
  // The test clamd takes streams of up to 512 MiB.
  return startExample(project, ["-storage", storage, "-clamd", clamd, "-clamd-max-size", "512MiB"]);
}

const hex = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const hmac = (k: Buffer | string, s: string) => createHmac("sha256", k).update(s).digest();

/** Creates bucket with S3's CreateBucket, signed with Signature Version 4. */
async function createBucket(endpoint: string, bucket: string, key: string, secret: string, region: string) {
  const url = new URL(`/${bucket}`, endpoint);
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  const date = amzDate.slice(0, 8);
  const payload = hex("");
  const signed = "host;x-amz-content-sha256;x-amz-date";
  const canonical = ["PUT", url.pathname, "", `host:${url.host}`, `x-amz-content-sha256:${payload}`, `x-amz-date:${amzDate}`, "", signed, payload].join("\n");
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(canonical)].join("\n");
  const signingKey = hmac(hmac(hmac(hmac("AWS4" + secret, date), region), "s3"), "aws4_request");
  const signature = createHmac("sha256", signingKey).update(toSign).digest("hex");
  const res = await fetch(url, {
    method: "PUT",
    headers: {
      "x-amz-date": amzDate,
      "x-amz-content-sha256": payload,
      authorization: `AWS4-HMAC-SHA256 Credential=${key}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
    },
  });
  if (!res.ok) throw new Error(`global-setup: creating bucket ${bucket} at ${endpoint}: ${res.status} ${await res.text()}`);
}
