--[[
A folder URL asked for without its trailing slash (/api/schema, /api/schema/swagger): a 301
to the same path with the slash, relative (so it keeps whatever host and port the client
used) and with an empty body (nginx's own redirects carry an HTML page).
]]
ngx.status = ngx.HTTP_MOVED_PERMANENTLY
ngx.header["Location"] = ngx.var.uri .. "/"
ngx.header["Content-Type"] = nil
ngx.header["Content-Length"] = 0
return ngx.exit(ngx.HTTP_OK)
