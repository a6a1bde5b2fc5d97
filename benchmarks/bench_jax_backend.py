"""nutpie Numba vs JAX backend on one small hierarchical model (team x arm binomial, 60 teams),
4 chains x 1000 draws: import, compile and sampling seconds. JAX is not a dependency of lndbayes;
to rerun: pip install --target /tmp/jaxpkgs "jax[cpu]==0.12.0.1", then

    PYTENSOR_FLAGS=base_compiledir=/tmp/empty .venv/bin/python benchmarks/bench_jax_backend.py numba
    PYTHONPATH=/tmp/jaxpkgs .venv/bin/python benchmarks/bench_jax_backend.py jax

Results and the decision: benchmarks/results/compile.md, option (b4).
"""
import sys, time, os
backend = sys.argv[1]
t0=time.perf_counter()
import numpy as np, pymc as pm, nutpie
rng=np.random.default_rng(0); T=60
n=rng.integers(20,60,(T,2)); p=1/(1+np.exp(-(-1.5+rng.normal(0,.3,(T,1))+np.array([0,-.2]))))
y=rng.binomial(n,p)
with pm.Model() as m:
    mu=pm.Normal("mu",0,1.5); tau=pm.HalfNormal("tau",1); z=pm.Normal("z",0,1,shape=T)
    b=pm.Normal("b",0,1); sb=pm.HalfNormal("sb",.5); zb=pm.Normal("zb",0,1,shape=T)
    a=mu+tau*z; eff=b+sb*zb
    pm.Binomial("y0",n=n[:,0],p=pm.math.invlogit(a),observed=y[:,0])
    pm.Binomial("y1",n=n[:,1],p=pm.math.invlogit(a+eff),observed=y[:,1])
t1=time.perf_counter()
kw=dict(backend="jax",gradient_backend="jax") if backend=="jax" else {}
cm=nutpie.compile_pymc_model(m, **kw)
t2=time.perf_counter()
tr=nutpie.sample(cm,draws=1000,tune=1000,chains=4,cores=2,seed=1,progress_bar=False)
t3=time.perf_counter()
import arviz as az
print(backend, f"import+model {t1-t0:.1f}s compile {t2-t1:.1f}s sample {t3-t2:.1f}s", "b mean", float(tr.posterior["b"].mean()))
