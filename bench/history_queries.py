#!/usr/bin/env python3
# Times CHATHISTORY BEFORE and SEARCH through `obrol serve --data-dir DIR` where DIR holds the
# store `cargo run --release -p obrol-store --example history_scale -- N DIR keep` made.
# Usage: python3 bench/history_queries.py PORT N   (the hub must exempt 127.0.0.1 from line rates)
# Times CHATHISTORY BEFORE and SEARCH through obrol serve on the history_scale store.
import socket, sys, time, random
port=int(sys.argv[1]); n=int(sys.argv[2])
M=(1<<64)-1
def room_of(i):
    z=(i+0x9e3779b97f4a7c15)&M
    z=((z^(z>>30))*0xbf58476d1ce4e5b9)&M
    z=((z^(z>>27))*0x94d049bb133111eb)&M
    return (z^(z>>31))%1000
s=socket.create_connection(("127.0.0.1",port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f=s.makefile("rb")
def send(l): s.sendall((l+"\r\n").encode())
send("CAP REQ :batch server-time message-tags draft/chathistory soju.im/search"); send("NICK timer"); send("USER t 0 * :t"); send("CAP END")
while True:
    l=f.readline()
    if b" 376 " in l or b" 422 " in l: break
rooms=list(range(10))
for r in rooms: send("JOIN #room%d" % r)
send("PING :j")
while b"PONG" not in f.readline(): pass
# message numbers whose room is one of ours
random.seed(7)
cands=[]
while len(cands)<500:
    i=random.randrange(n)
    if room_of(i) in rooms: cands.append(i)
def until_batch_end():
    got=0; depth=0
    while True:
        l=f.readline()
        if not l: raise SystemExit("closed")
        if b" BATCH +" in l: depth+=1; continue
        if b" BATCH -" in l:
            depth-=1
            if depth==0: return got
            continue
        if b"FAIL" in l: print(l); return -1
        got+=1
def pct(t):
    t.sort(); return "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (t[len(t)//2]*1e3, t[int((len(t)-1)*0.99)]*1e3, t[-1]*1e3)
times=[]; sizes=[]
for i in cands:
    t=time.perf_counter(); send("CHATHISTORY BEFORE #room%d msgid=m%d 50" % (room_of(i), i)); sizes.append(until_batch_end()); times.append(time.perf_counter()-t)
print("CHATHISTORY BEFORE (msgid, 50) x%d: %s; messages per answer: min %d, mean %.1f" % (len(times), pct(times), min(sizes), sum(sizes)/len(sizes)))
words=["halo","apa","kabar","baik","makan","siang","rapat","besok","kode","rilis","server","multicast","tolong","cek","log","error","jalan","pulang","kopi","teh"]
vocab=["%s%d" % (words[i%20], i) for i in range(5000)]
times=[]; sizes=[]
for k in range(200):
    q=vocab[random.randrange(200)]+"\\s"+vocab[random.randrange(5000)]
    t=time.perf_counter(); send("SEARCH text=%s;limit=50" % q); sizes.append(until_batch_end()); times.append(time.perf_counter()-t)
print("SEARCH (2 words, the 10 rooms joined, 50) x%d: %s; found on average %.1f" % (len(times), pct(times), sum(sizes)/len(sizes)))
