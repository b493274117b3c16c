-- Phase "search-range": POST /crm/v3/objects/contacts/search with bench_score GTE lo AND
-- bench_score LT lo + 1 % of the score range (≈ 1 % of the records, 10,000 of 1M, match),
-- sorted by bench_date DESCENDING, limit 100.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local c = require("common")

c.phase(function()
  local width = math.floor(c.score_max / 100)
  local lo = math.random(0, c.score_max - width)
  local body = string.format(
    '{"filterGroups":[{"filters":[{"propertyName":"bench_score","operator":"GTE","value":"%d"},'
      .. '{"propertyName":"bench_score","operator":"LT","value":"%d"}]}],'
      .. '"sorts":[{"propertyName":"bench_date","direction":"DESCENDING"}],'
      .. '"properties":["email","bench_score","bench_date"],"limit":100}',
    lo, lo + width)
  return c.send_json("POST", "/crm/v3/objects/contacts/search", body)
end)
