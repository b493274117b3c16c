-- Phase "get": GET /crm/v3/objects/contacts/{id} of a random seeded contact (default properties).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

c.phase(function()
  return c.get("/crm/v3/objects/contacts/" .. c.random_id())
end)
