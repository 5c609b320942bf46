-- wrk script: every request is a new, valid invoice (unique invoice_no per thread and run),
-- so the utility does its full work (validate, authenticate, store durably) for each one.
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  prefix = (args[1] or "R") .. "-" .. tid .. "-"
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"ntn":"K123456","pos_id":"K123456","key":"KPRA@123a","invoice_no":"%s%d",' ..
    '"amount":200,"tax_rate":5,"tax_amount":10,"total_amount":210,' ..
    '"date_time":"2026-11-21 10:00:00","payment_mode":1}', prefix, counter)
  return wrk.format("POST", "/api/invoice", {["Content-Type"] = "application/json"}, body)
end
