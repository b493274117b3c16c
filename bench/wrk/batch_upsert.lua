-- Phase "batch-upsert": POST /crm/v3/objects/contacts/batch/upsert of 100 inputs by email
-- (idProperty=email): UPSERT_NEW_PERCENT % (default 10) are new addresses, the rest existing
-- seeded contacts (distinct within a request). Each input sets three properties.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local N = 100
local new_share = tonumber(os.getenv("UPSERT_NEW_PERCENT") or "10") / 100
local counter = 0

c.phase(function()
  local inputs = {}
  local seen = {}
  local n_new = math.floor(N * new_share + 0.5)
  for i = 1, N do
    local email, lastname
    if i <= n_new then
      counter = counter + 1
      email = string.format("bench.upsert.%s.%d@example.org", c.tag, counter)
      lastname = "Upsert"
    else
      local _, e = c.random_record()
      -- Distinct emails within one batch (a sample smaller than the batch cannot avoid repeats).
      local tries = 0
      while seen[e] and tries < 20 do
        _, e = c.random_record()
        tries = tries + 1
      end
      email = e
      lastname = "Updated"
    end
    seen[email] = true
    inputs[i] = string.format(
      '{"idProperty":"email","id":"%s","properties":{"lastname":"%s","jobtitle":"Buyer %d","bench_score":"%d"}}',
      email, lastname, math.random(1, 99), math.random(0, c.score_max - 1))
  end
  local body = '{"inputs":[' .. table.concat(inputs, ",") .. ']}'
  return c.send_json("POST", "/crm/v3/objects/contacts/batch/upsert", body)
end)
