// Running a request as a job: `Prefer: respond-async`, then GET /jobs/{id} for progress until it
// ends; Cancel posts /jobs/{id}/cancel. Endpoints that answer at once (200) need no job.

import { ApiError, request } from "./api.js";

const POLL_MS = 250;
const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

export class Job {
  constructor(onProgress) {
    this.onProgress = onProgress;
    this.id = null;
    this.cancelled = false;
  }

  /** The endpoint's answer `{content, type, fromCache}`; throws ApiError (422 etc.) or on cancel. */
  async run(method, path, { query, body, onlyIfCached = false }) {
    const headers = { Prefer: "respond-async" };
    if (onlyIfCached) headers["Cache-Control"] = "only-if-cached";
    const answer = await request(method, path, { query, body, headers });
    if (answer.status !== 202) {
      this.onProgress({ stage: "done", fraction: 1 }, "succeeded");
      return { content: answer.content, type: answer.type };
    }
    this.id = answer.content.id;
    this.onProgress({ stage: "queued", fraction: 0 }, "queued");
    for (;;) {
      const view = (await request("GET", `jobs/${encodeURIComponent(this.id)}`)).content;
      this.onProgress(view.progress || { stage: view.status, fraction: view.status === "succeeded" ? 1 : 0 }, view.status);
      if (view.status === "succeeded") return this.result(view);
      if (view.status === "failed" || view.status === "cancelled") {
        const error = new ApiError(view.error ? statusOf(view.error) : 500, view.error || { detail: `The job ${view.status}.` });
        error.jobStatus = view.status;
        throw error;
      }
      await sleep(POLL_MS);
    }
  }

  async result(view) {
    const result = view.result;
    if (result && result.kind === "file") {
      const file = await request("GET", `jobs/${encodeURIComponent(this.id)}/result`);
      return { content: file.content, type: file.type, filename: result.filename };
    }
    return { content: result, type: "application/json" };
  }

  async cancel() {
    this.cancelled = true;
    if (this.id) await request("POST", `jobs/${encodeURIComponent(this.id)}/cancel`).catch(() => null);
  }
}

function statusOf(error) {
  return error.code === "invalid_input" ? 422 : error.code === "cancelled" ? 409 : 500;
}
