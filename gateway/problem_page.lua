--[[
The short human page at /problems/<code>, the `type` of the platform's problem+json answers.
What each code means comes from the map $problem_page_text in nginx.conf.template
("<status>|<title>|<meaning>", empty for an unknown code: 404 problem+json).
]]
local text = ngx.var.problem_page_text
if text == nil or text == "" then
    return ngx.exit(ngx.HTTP_NOT_FOUND)
end
local status, title, meaning = text:match("^(%d+)|([^|]*)|(.*)$")

local function escape(value)
    return (value:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;"))
end

local code = escape(ngx.var.problem_page)
ngx.header["Content-Type"] = "text/html; charset=utf-8"
ngx.say("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<title>", escape(title), "</title></head><body>",
        "<h1>", escape(title), "</h1>",
        "<p>HTTP status <strong>", status, "</strong>; problem type <code>/problems/", code,
        "</code>.</p>",
        "<p>", escape(meaning), "</p>",
        "<p>Errors are <code>application/problem+json</code> (RFC 9457): branch on ",
        "<code>type</code>; <code>detail</code> is for people. All types: ",
        "<a href=\"/api/schema/swagger/\">the API reference</a> (schema Problem).</p>",
        "</body></html>")
