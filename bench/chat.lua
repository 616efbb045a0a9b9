-- wrk script: POST a ~200-byte chat request (non-streaming unless STREAM=1 in the path query).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local stream = os.getenv("STREAM") == "1"
wrk.body = '{"model":"openai/gpt-4o-mini","stream":' .. (stream and "true" or "false") ..
  ',"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello to the benchmark, please, in a few words."}]}'
