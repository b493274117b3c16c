-- Phase "search-eq": POST /crm/v3/objects/contacts/search with one filter email EQ <a random
-- seeded email>; three properties; limit 10.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

c.phase(function()
  local _, email = c.random_record()
  local body = '{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":'
    .. c.json_string(email)
    .. '}]}],"properties":["email","firstname","lastname"],"limit":10}'
  return c.send_json("POST", "/crm/v3/objects/contacts/search", body)
end)
