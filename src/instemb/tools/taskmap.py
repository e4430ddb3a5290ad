"""A task map: one self-contained HTML page with a 2-D projection of instruction embeddings.

Projection: scikit-learn t-SNE (already a dependency; deterministic with a seed; on a few
thousand points it takes under a minute on 2 cores). Colours: k-means clusters computed on the
full embeddings (FAISS for large inputs), each named by its most frequent task labels. t-SNE
cannot take a million points: above ``MAX_POINTS`` rows (an option) the page draws a seeded
random sample, says so, and its cluster list still counts every row. The page needs no network: data,
CSS and JS are inline; it draws on a canvas, shows the instruction on hover, filters by a search
box (also from the URL: ``map.html#q=poem``) and lists the clusters with sizes and examples.
For automated checks it sets ``data-points`` (points drawn), ``data-visible`` (points matching the
search) and ``data-errors`` (script errors) on ``<body>``.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from instemb.errors import InstembError
from instemb.tools import index

MAX_POINTS = 20_000


def project(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) t-SNE coordinates scaled to [0, 1] (PCA init; perplexity capped for small n)."""
    emb = np.asarray(emb, dtype=np.float32)
    n = len(emb)
    if n < 3:
        xy = np.zeros((n, 2)) + 0.5
        if n == 2:
            xy[:, 0] = [0.25, 0.75]
        return xy
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (n - 1) / 3))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
              metric="cosine").fit_transform(emb)
    lo, hi = xy.min(0), xy.max(0)
    return (xy - lo) / np.maximum(hi - lo, 1e-12)


def default_clusters(n: int) -> int:
    return int(max(1, min(40, round(np.sqrt(n / 3)))))


def cluster(emb: np.ndarray, k: int, seed: int = 0, engine: str = "auto") -> np.ndarray:
    """Each row's k-means cluster (:func:`instemb.tools.index.kmeans`)."""
    return index.kmeans(emb, min(k, len(emb)), seed=seed, engine=engine)[1]


def sample_rows(n: int, max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """The rows to draw: all of them, or a seeded random sample of ``max_points``, ascending."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def name_clusters(labels: np.ndarray, tasks: list[str | None], texts: list[str], top: int = 2) -> dict[int, str]:
    """Each cluster's name: its most characteristic task labels ("write|poem / compose|poem").

    A label scores (count in the cluster)^2 / (count overall): frequent in the cluster and
    concentrated there, so a label common everywhere ("what|knowledge") names only the
    clusters that hold most of it. Rows without a label count by their first two words."""
    keys = [t or " ".join(x.lower().split()[:2]) for t, x in zip(tasks, texts)]
    overall = Counter(keys)
    names = {}
    for c in np.unique(labels):
        counts = Counter(keys[i] for i in np.flatnonzero(labels == c))
        ranked = sorted(counts, key=lambda t: (-counts[t] ** 2 / overall[t], -counts[t], t))
        names[int(c)] = " / ".join(ranked[:top])
    return names


def _palette(k: int) -> list[str]:
    base = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e6550d", "#31a354", "#a50f15",
            "#6a51a3", "#c49c94", "#ad494a", "#637939", "#8c6d31", "#7b4173"]
    out = base[:k]
    for i in range(len(out), k):  # golden-angle hues beyond the fixed palette
        out.append(f"hsl({(i * 137.508) % 360:.0f},62%,{45 + (i % 3) * 8}%)")
    return out


def build_html(texts: list[str], xy: np.ndarray, labels: np.ndarray, names: dict[int, str],
               title: str = "Task map", examples: int = 3, emb: np.ndarray | None = None,
               sizes: dict[int, int] | None = None, total: int | None = None) -> str:
    """The page as one string. With ``emb``, each cluster's examples are its rows nearest
    the cluster mean; without, its first rows. When the points are a sample: ``sizes`` gives
    every cluster's size in the full set and ``total`` its row count (the page says so)."""
    if len(texts) != len(xy) or len(texts) != len(labels):
        raise InstembError("texts, coordinates and cluster labels differ in length")
    if sizes is None:
        sizes = {int(c): int((labels == c).sum()) for c in names}
    ids = sorted(sizes, key=lambda c: -sizes[c])
    colour = dict(zip(ids, _palette(len(ids))))
    clusters = []
    for c in ids:
        members = np.flatnonzero(labels == c)
        if emb is not None and len(members):
            members = members[np.argsort(-(emb[members] @ emb[members].mean(0)), kind="stable")]
        clusters.append({"id": int(c), "name": names.get(c, "(none in the sample)"),
                         "size": int(sizes[c]), "color": colour[c],
                         "examples": [texts[i] for i in members[:examples]]})
    data = {"title": title, "total": int(total or len(texts)),
            "x": [round(float(v), 4) for v in xy[:, 0]],
            "y": [round(float(v), 4) for v in xy[:, 1]], "c": [int(v) for v in labels],
            "t": list(texts), "clusters": clusters}
    # "<" as \u003c: still valid JSON, and no "</script>" or "<!--" can end the data block early
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    title_html = (title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return _TEMPLATE.replace("__TITLE__", title_html).replace("__DATA__", payload)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;display:flex;height:100vh;overflow:hidden;background:#fafafa}
#main{flex:1;display:flex;flex-direction:column;min-width:0}
header{padding:8px 12px;display:flex;gap:12px;align-items:center;border-bottom:1px solid #ddd;background:#fff}
header h1{font-size:15px;margin:0;white-space:nowrap}
#q{flex:0 1 320px;padding:5px 8px;border:1px solid #bbb;border-radius:4px;font:inherit}
#count{color:#666;white-space:nowrap}
#wrap{flex:1;position:relative;min-height:0}
canvas{position:absolute;inset:0;width:100%;height:100%;cursor:crosshair}
#tip{position:absolute;pointer-events:none;background:rgba(255,255,255,.97);border:1px solid #999;border-radius:4px;padding:6px 8px;max-width:420px;box-shadow:0 2px 6px rgba(0,0,0,.15);display:none;white-space:pre-wrap;word-break:break-word}
#tip b{display:block;margin-bottom:3px}
aside{width:330px;border-left:1px solid #ddd;overflow-y:auto;background:#fff}
aside h2{font-size:13px;margin:10px 12px 6px;color:#555}
.cl{padding:6px 12px;border-top:1px solid #eee;cursor:pointer}
.cl:hover,.cl.on{background:#f1f5fb}
.cl .hd{display:flex;gap:6px;align-items:center;font-weight:600}
.sw{width:11px;height:11px;border-radius:50%;flex:none}
.cl .n{margin-left:auto;color:#777;font-weight:400}
.cl ul{margin:3px 0 0 17px;padding:0;color:#555}
.cl li{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
</style></head>
<body data-points="0" data-visible="0" data-errors="0" data-total="0">
<div id="main"><header><h1 id="ttl"></h1>
<input id="q" type="search" placeholder="Search instructions (e.g. poem, translate)" autocomplete="off">
<span id="count"></span></header>
<div id="wrap"><canvas id="cv"></canvas><div id="tip"></div></div></div>
<aside><h2>Clusters (click to highlight)</h2><div id="list"></div></aside>
<script id="data" type="application/json">__DATA__</script>
<script>
(function(){
"use strict";
var errors=0;
function bump(){errors++;document.body.setAttribute("data-errors",String(errors));}
window.addEventListener("error",bump);
var origError=console.error;console.error=function(){bump();return origError.apply(console,arguments);};
var D=JSON.parse(document.getElementById("data").textContent);
var N=D.t.length,col={},nm={},i;
D.clusters.forEach(function(c){col[c.id]=c.color;nm[c.id]=c.name;});
var lower=D.t.map(function(s){return s.toLowerCase();});
var match=new Uint8Array(N).fill(1),focus=null,hover=-1;
var cv=document.getElementById("cv"),ctx=cv.getContext("2d"),tip=document.getElementById("tip");
var q=document.getElementById("q"),countEl=document.getElementById("count");
document.getElementById("ttl").textContent=D.title;document.title=D.title;
var note=D.total>N?" (a random sample of "+N+" of "+D.total+" instructions; cluster sizes count all)":"";
document.body.setAttribute("data-total",String(D.total));
var W=0,H=0,PAD=14,R=3;
function px(k){return PAD+D.x[k]*(W-2*PAD);} function py(k){return PAD+(1-D.y[k])*(H-2*PAD);}
function resize(){var r=cv.getBoundingClientRect(),dpr=window.devicePixelRatio||1;W=Math.max(r.width,50);H=Math.max(r.height,50);
 cv.width=Math.round(W*dpr);cv.height=Math.round(H*dpr);ctx.setTransform(dpr,0,0,dpr,0,0);draw();}
function active(k){return match[k]&&(focus===null||D.c[k]===focus);}
function draw(){ctx.clearRect(0,0,W,H);var drawn=0,vis=0,k;
 ctx.globalAlpha=0.12;ctx.fillStyle="#999";
 for(k=0;k<N;k++){if(!active(k)){ctx.beginPath();ctx.arc(px(k),py(k),R-0.8,0,6.2832);ctx.fill();drawn++;}}
 ctx.globalAlpha=0.85;
 for(k=0;k<N;k++){if(active(k)){ctx.fillStyle=col[D.c[k]];ctx.beginPath();ctx.arc(px(k),py(k),R,0,6.2832);ctx.fill();drawn++;vis++;}}
 ctx.globalAlpha=1;
 if(hover>=0){ctx.strokeStyle="#000";ctx.lineWidth=1.5;ctx.beginPath();ctx.arc(px(hover),py(hover),R+2.5,0,6.2832);ctx.stroke();}
 document.body.setAttribute("data-points",String(drawn));document.body.setAttribute("data-visible",String(vis));
 window.__pointsDrawn=drawn;
 countEl.textContent=(vis===N?N+" instructions":vis+" of "+N+" instructions")+note+" \\u00b7 "+D.clusters.length+" clusters";}
function filter(){var s=q.value.trim().toLowerCase();for(var k=0;k<N;k++){match[k]=(!s||lower[k].indexOf(s)>=0)?1:0;}draw();}
q.addEventListener("input",filter);
cv.addEventListener("mousemove",function(e){var r=cv.getBoundingClientRect(),mx=e.clientX-r.left,my=e.clientY-r.top,best=-1,bd=64;
 for(var k=0;k<N;k++){if(!active(k))continue;var dx=px(k)-mx,dy=py(k)-my,d=dx*dx+dy*dy;if(d<bd){bd=d;best=k;}}
 if(best!==hover){hover=best;draw();}
 if(best<0){tip.style.display="none";return;}
 tip.innerHTML="";var b=document.createElement("b");b.textContent="cluster "+D.c[best]+": "+nm[D.c[best]];b.style.color=col[D.c[best]];
 tip.appendChild(b);tip.appendChild(document.createTextNode(D.t[best].length>600?D.t[best].slice(0,600)+"\\u2026":D.t[best]));
 tip.style.display="block";var tx=mx+14,ty=my+14;if(tx+430>W)tx=Math.max(0,mx-434);if(ty+tip.offsetHeight>H)ty=Math.max(0,my-tip.offsetHeight-10);
 tip.style.left=tx+"px";tip.style.top=ty+"px";});
cv.addEventListener("mouseleave",function(){hover=-1;tip.style.display="none";draw();});
var list=document.getElementById("list");
D.clusters.forEach(function(c){var d=document.createElement("div");d.className="cl";d.setAttribute("data-cluster",String(c.id));
 var hd=document.createElement("div");hd.className="hd";var sw=document.createElement("span");sw.className="sw";sw.style.background=c.color;
 var t=document.createElement("span");t.textContent=c.name;var n=document.createElement("span");n.className="n";n.textContent=String(c.size);
 hd.appendChild(sw);hd.appendChild(t);hd.appendChild(n);d.appendChild(hd);var ul=document.createElement("ul");
 c.examples.forEach(function(x){var li=document.createElement("li");li.textContent=x;li.title=x;ul.appendChild(li);});d.appendChild(ul);
 d.addEventListener("click",function(){focus=(focus===c.id)?null:c.id;
  Array.prototype.forEach.call(list.children,function(el){el.classList.toggle("on",focus!==null&&el.getAttribute("data-cluster")===String(focus));});draw();});
 list.appendChild(d);});
var h=decodeURIComponent((location.hash||"").replace(/^#/,""));if(h.indexOf("q=")===0){q.value=h.slice(2);}
window.addEventListener("resize",resize);resize();filter();
})();
</script></body></html>
"""
