-- Phase "patch": PATCH /crm/v3/objects/contacts/{id} of a random seeded contact, setting three
-- properties (jobtitle, city, bench_score) to varied values.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

local titles = { "Engineer", "Sales Manager", "Director", "Consultant", "Analyst", "Founder" }
local cities = { "Boston", "Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Pune", "Perth" }

c.phase(function()
  local body = string.format(
    '{"properties":{"jobtitle":"%s %d","city":"%s","bench_score":"%d"}}',
    titles[math.random(#titles)], math.random(1, 99), cities[math.random(#cities)],
    math.random(0, c.score_max - 1))
  return c.send_json("PATCH", "/crm/v3/objects/contacts/" .. c.random_id(), body)
end)
