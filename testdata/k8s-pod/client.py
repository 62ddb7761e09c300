import http.client, ssl, sys, time, urllib.parse
ctx = ssl._create_unverified_context()
conns = {}
urls = sys.argv[1:]
if urls and urls[0].startswith("--after="):
    time.sleep(float(urls.pop(0)[len("--after="):]))
for url in urls:
    u = urllib.parse.urlsplit(url)
    key = (u.scheme, u.netloc)
    if key not in conns:
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conns[key] = cls(u.netloc, context=ctx, timeout=10) if u.scheme == "https" else cls(u.netloc, timeout=10)
    c = conns[key]
    c.request("GET", u.path)
    r = c.getresponse()
    body = r.read().decode().strip()
    try:
        print(r.status, body, flush=True)
    except OSError:
        pass  # ctr went away (containerd stopped): the call was made all the same
time.sleep(float(__import__("os").environ.get("LINGER", "2")))
