-- Phase "search-query": POST /crm/v3/objects/contacts/search with `query` = the first name of a
-- random seeded contact (one of a few hundred names, so ≈ 0.3–0.5 % of the records match);
-- three properties; limit 10 (HubSpot's default).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

c.phase(function()
  local _, _, name = c.random_record()
  local body = '{"query":' .. c.json_string(name)
    .. ',"properties":["email","firstname","lastname"],"limit":10}'
  return c.send_json("POST", "/crm/v3/objects/contacts/search", body)
end)
