-- Phase "batch-read": POST /crm/v3/objects/contacts/batch/read of 100 random seeded ids
-- (duplicates are possible and harmless), four properties each.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local N = 100

c.phase(function()
  local inputs = {}
  for i = 1, N do
    inputs[i] = '{"id":"' .. c.random_id() .. '"}'
  end
  local body = '{"inputs":[' .. table.concat(inputs, ",")
    .. '],"properties":["email","firstname","lastname","company"],"propertiesWithHistory":[]}'
  return c.send_json("POST", "/crm/v3/objects/contacts/batch/read", body)
end)
