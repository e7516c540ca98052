/*
 * Gateway token validator and health check (njs 0.7.x, one VM per request: nothing here
 * keeps state between requests; decisions are cached by token_cache.lua, see README.md).
 *
 *   validate(r)   js_content of the validator server, asked on a token-cache miss: checks
 *                 an RS256 access token and answers 200 + X-User-Id, or 401 + X-Auth-Error
 *                 (+ X-Auth-Unavailable when identity's keys cannot be fetched), with
 *                 X-Auth-Cache-Until (unix time) when the answer may be remembered.
 *   healthz(r)    js_content of /healthz: readiness of every service and the heartbeat
 *                 state of every worker kind, asked of the services in parallel.
 *
 * Written for njs 0.7.9: no destructuring, classes or for-of; RSA keys can only be imported
 * as SPKI (not JWK), so the SPKI DER is built from the JWK's n and e below.
 *
 * Why everything sits inside validatorModule(): njs clones the VM for every request that
 * runs JS, and every top-level binding makes that clone dearer.
 */

function validate(r) {
    return validatorModule().validate(r);
}

function healthz(r) {
    return validatorModule().healthz(r);
}


function validatorModule() {
    const ALGORITHM = 'RS256';               // pinned: the token header's alg is never trusted
    const ACCESS_TOKEN_TYPE = 'access';
    const CLOCK_SKEW_SECONDS = 60;           // tolerated for iat in the future
    const MAX_CACHE_SECONDS = 300;           // a valid token is re-validated at least this often
    const REJECT_CACHE_SECONDS = 5;          // a rejection is remembered this long

    const BASE64URL = /^[A-Za-z0-9_-]+$/;
    const BEARER = /^Bearer +([A-Za-z0-9_.-]+)$/i;
    const SAFE_SUBJECT = /^[A-Za-z0-9._:@-]{1,128}$/;   // goes into a header: no CR/LF, no spaces
    // DER of SEQUENCE { OID 1.2.840.113549.1.1.1 (rsaEncryption), NULL }.
    const RSA_ALGORITHM_IDENTIFIER = Buffer.from('300d06092a864886f70d0101010500', 'hex');


    /* ---- validator ------------------------------------------------------------------ */

    // A rejection: the status/reason we answer with. Anything else thrown is a bug -> logged.
    function Rejection(detail, unavailable) {
        this.detail = detail;
        this.unavailable = !!unavailable;
    }

    function reject(detail) {
        throw new Rejection(detail, false);
    }

    function decodeJsonPart(part) {
        if (!BASE64URL.test(part)) {
            reject('Malformed access token');
        }
        let value;
        try {
            value = JSON.parse(Buffer.from(part, 'base64url').toString());
        } catch (e) {
            reject('Malformed access token');
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            reject('Malformed access token');
        }
        return value;
    }

    /* Minimal DER encoder: just what an RSA SubjectPublicKeyInfo needs. */
    function derLength(length) {
        if (length < 0x80) {
            return Buffer.from([length]);
        }
        const bytes = [];
        while (length > 0) {
            bytes.unshift(length & 0xff);
            length = length >>> 8;
        }
        bytes.unshift(0x80 | bytes.length);
        return Buffer.from(bytes);
    }

    function der(tag, content) {
        return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
    }

    function derUnsignedInteger(bytes) {
        let start = 0;
        while (start < bytes.length - 1 && bytes[start] === 0) {
            start++;
        }
        bytes = bytes.slice(start);
        if (bytes[0] & 0x80) {   // DER integers are signed: keep a big modulus positive
            bytes = Buffer.concat([Buffer.from([0]), bytes]);
        }
        return der(0x02, bytes);
    }

    // SEQUENCE { AlgorithmIdentifier, BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } }
    function spkiFromJwk(jwk) {
        const n = Buffer.from(jwk.n, 'base64url');
        const e = Buffer.from(jwk.e, 'base64url');
        const rsaPublicKey = der(0x30, Buffer.concat([derUnsignedInteger(n),
                                                      derUnsignedInteger(e)]));
        const bitString = der(0x03, Buffer.concat([Buffer.from([0]), rsaPublicKey]));
        return der(0x30, Buffer.concat([RSA_ALGORITHM_IDENTIFIER, bitString]));
    }

    // identity's JWKS through a cached internal location; null if it could not be had.
    async function fetchKeys(r, uri) {
        let reply;
        try {
            reply = await r.subrequest(uri, {method: 'GET'});
        } catch (e) {
            r.error('jwks subrequest ' + uri + ' failed: ' + e);
            return null;
        }
        if (reply.status !== 200) {
            r.warn('jwks ' + uri + ' answered ' + reply.status);
            return null;
        }
        try {
            const jwks = JSON.parse(reply.responseText);
            return Array.isArray(jwks.keys) ? jwks.keys : null;
        } catch (e) {
            r.warn('jwks ' + uri + ' is not valid JSON');
            return null;
        }
    }

    function findKey(keys, kid) {
        return keys.find(function (k) {
            return k !== null && typeof k === 'object' && k.kid === kid && k.kty === 'RSA'
                && (k.alg === undefined || k.alg === ALGORITHM)
                && (k.use === undefined || k.use === 'sig')
                && typeof k.n === 'string' && BASE64URL.test(k.n)
                && typeof k.e === 'string' && BASE64URL.test(k.e);
        });
    }

    async function publicKeyFor(r, kid) {
        let keys = await fetchKeys(r, '/_jwks');
        let jwk = keys ? findKey(keys, kid) : undefined;
        if (!jwk) {
            // Unknown kid: maybe identity rotated its keys; look again (bounded by its cache).
            const fresh = await fetchKeys(r, '/_jwks_refresh');
            keys = fresh || keys;
            jwk = keys ? findKey(keys, kid) : undefined;
        }
        if (!keys) {
            throw new Rejection('Signing keys are unavailable; retry shortly', true);
        }
        if (!jwk) {
            reject('Unknown signing key');
        }
        return crypto.subtle.importKey('spki', spkiFromJwk(jwk),
                                       {name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256'},
                                       false, ['verify']);
    }

    function isNumber(value) {
        return typeof value === 'number' && isFinite(value);
    }

    // Verifies the token of the request; returns its claims or throws a Rejection.
    async function verifiedClaims(r) {
        const authorization = r.headersIn.Authorization;
        if (!authorization) {
            reject('Missing access token');
        }
        const match = BEARER.exec(authorization);
        if (!match) {
            reject('Malformed access token');
        }
        const parts = match[1].split('.');
        if (parts.length !== 3 || !BASE64URL.test(parts[2])) {
            reject('Malformed access token');
        }
        const header = decodeJsonPart(parts[0]);
        const claims = decodeJsonPart(parts[1]);

        // The algorithm is pinned, so "none" and HS256 (with the public key as the secret)
        // are refused before any key is touched.
        if (header.alg !== ALGORITHM || typeof header.kid !== 'string') {
            reject('Invalid access token');
        }
        const key = await publicKeyFor(r, header.kid);
        const signature = Buffer.from(parts[2], 'base64url');
        const signed = Buffer.from(parts[0] + '.' + parts[1]);
        let valid = false;
        try {
            valid = await crypto.subtle.verify({name: 'RSASSA-PKCS1-v1_5'}, key, signature, signed);
        } catch (e) {
            valid = false;
        }
        if (!valid) {
            reject('Invalid access token');
        }

        const now = Date.now() / 1000;
        if (!isNumber(claims.exp)) {
            reject('Invalid access token');
        }
        if (now >= claims.exp) {
            reject('Access token expired');
        }
        if (claims.nbf !== undefined && (!isNumber(claims.nbf) || claims.nbf > now)) {
            reject('Access token not yet valid');
        }
        if (claims.iat !== undefined
                && (!isNumber(claims.iat) || claims.iat > now + CLOCK_SKEW_SECONDS)) {
            reject('Access token issued in the future');
        }
        if (claims.iss !== r.variables.jwt_issuer) {
            reject('Invalid access token');
        }
        const audience = r.variables.jwt_audience;
        const aud = claims.aud;
        if (!(aud === audience || (Array.isArray(aud) && aud.indexOf(audience) !== -1))) {
            reject('Invalid access token');
        }
        if (claims.typ !== ACCESS_TOKEN_TYPE) {
            reject('Not an access token');
        }
        if (typeof claims.sub !== 'string' || !SAFE_SUBJECT.test(claims.sub)) {
            reject('Invalid access token');
        }
        return claims;
    }

    async function validateToken(r) {
        let claims;
        try {
            claims = await verifiedClaims(r);
        } catch (e) {
            let rejection = e;
            if (!(e instanceof Rejection)) {
                r.error('token validation error: ' + e);
                rejection = new Rejection('Invalid access token', false);
            }
            // 401 either way; X-Auth-Unavailable tells token_cache.lua to answer 503 instead.
            // Outages and bugs are not cached (no X-Auth-Cache-Until).
            const cacheable = e instanceof Rejection && !rejection.unavailable;
            r.headersOut['X-Auth-Error'] = rejection.detail;
            if (rejection.unavailable) {
                r.headersOut['X-Auth-Unavailable'] = '1';
            }
            if (cacheable) {
                const nowSeconds = Date.now() / 1000;
                r.headersOut['X-Auth-Cache-Until'] = String(nowSeconds + REJECT_CACHE_SECONDS);
            }
            r.return(401);
            return;
        }
        // The cached "yes" must never outlive the token: it is valid while now < exp, so the
        // cache may keep it until exp itself (an absolute time, so the cache's own clock
        // decides; millisecond precision), capped at MAX_CACHE_SECONDS from now.
        const now = Date.now() / 1000;
        r.headersOut['X-User-Id'] = claims.sub;
        const until = Math.min(claims.exp, now + MAX_CACHE_SECONDS);
        r.headersOut['X-Auth-Cache-Until'] = String(until);
        r.return(200);
    }


    /* ---- /healthz ------------------------------------------------------------------ */

    /* Each service's /health/ready: its status, and in its body the state of each of its
     * worker kinds from their heartbeats. /healthz is 200 only when every service is ready
     * and every worker kind is alive; otherwise a 503 naming what is not. */
    function workerStates(reply) {
        try {
            const body = JSON.parse(reply.responseText || '{}');
            return body.workers || {};
        } catch (e) {
            return {};
        }
    }

    async function readiness(r) {
        // The services with a health endpoint, from the config (generated from the topology).
        const names = (r.variables.health_services || '').split(' ').filter(function (n) {
            return n;
        });
        const replies = await Promise.all(names.map(function (name) {
            return r.subrequest('/_health/' + name, {method: 'GET'})
                .then(function (reply) { return reply; },
                      function () { return null; });
        }));
        const services = {};
        const workers = {};
        const failing = [];
        if (names.length === 0) {
            failing.push('no services configured');
        }
        names.forEach(function (name, i) {
            const reply = replies[i];
            const status = reply ? reply.status : 0;
            if (status === 200) {
                services[name] = 'ok';
            } else {
                services[name] = 'unavailable (' + (status || 'no answer') + ')';
                failing.push(name);
            }
            const states = reply ? workerStates(reply) : {};
            Object.keys(states).forEach(function (kind) {
                workers[name + '-' + kind] = String(states[kind]);
                if (states[kind] !== 'ok' && status === 200) {
                    failing.push(name + '-' + kind);
                }
            });
        });
        if (failing.length === 0) {
            r.headersOut['Content-Type'] = 'application/json';
            r.return(200, JSON.stringify({status: 'ok', services: services, workers: workers}));
            return;
        }
        r.headersOut['Content-Type'] = 'application/problem+json';
        r.return(503, JSON.stringify({
            type: '/problems/service-unavailable', title: 'Service Unavailable', status: 503,
            detail: 'Not ready: ' + failing.join(', '), services: services, workers: workers,
        }));
    }

    return {validate: validateToken, healthz: readiness};
}   // validatorModule

export default {validate: validate, healthz: healthz};
