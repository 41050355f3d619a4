# Gridiron recipes. `just` comes from the npm package rust-just: run `npx just <recipe>` after
# `npm ci` (or plain `just` if you have it installed). Ports and folders follow the same
# environment variables as `gridiron` itself (GRIDIRON_INGRESS_PORT, GRIDIRON_API_PORT,
# GRIDIRON_BUNDLES_DIR, …), so a mesh started on other ports is called on those ports.

host := env_var_or_default("GRIDIRON_HOST", "127.0.0.1")
ingress_port := env_var_or_default("GRIDIRON_INGRESS_PORT", "8080")
api_port := env_var_or_default("GRIDIRON_API_PORT", "8081")
bundles_dir := env_var_or_default("GRIDIRON_BUNDLES_DIR", "bundles")

# Names used by the docker-* recipes; override like `npx just image=me/gridiron docker-build`.
image := "gridiron"
container := "gridiron"
volume := "gridiron-state"

# List the recipes
default:
    @{{just_executable()}} --justfile {{quote(justfile())}} --list --unsorted

# Start restate-server, workerd and the reconciler in the foreground (= npm start; Ctrl-C stops all)
up *args:
    npm start -- {{args}}

# Run one reconcile pass on the running mesh and print what it did (--json for JSON)
reconcile *args:
    node bin/gridiron.js reconcile --api-port {{api_port}} {{args}}

# Print what a reconcile pass would do now, changing nothing (--json for JSON)
plan *args:
    node bin/gridiron.js plan --api-port {{api_port}} {{args}}

# Show services, their versions and the last reconcile (--json for JSON)
status *args:
    node bin/gridiron.js status --api-port {{api_port}} {{args}}

# Build the demo services (services/*) into the bundles folder; a running mesh picks them up
deploy-demo:
    node bin/build-service.js --all --out {{quote(bundles_dir)}}

# Call Greeter/greet through Restate's ingress, e.g. `npx just test-greeter Ana`
test-greeter name="":
    @node bin/gridiron.js call Greeter/greet --host {{quote(host)}} --ingress-port {{ingress_port}} {{ if name == "" { "" } else { "--string=" + quote(name) } }}

# Add 1 to the Counter virtual object <key> and print the new count
test-counter key="demo":
    @node bin/gridiron.js call {{quote("Counter/" + key + "/add")}} --host {{quote(host)}} --ingress-port {{ingress_port}}

# The whole test suite: type check, unit and integration tests (= npm test)
test:
    npm test

# Benchmarks (= npm run bench)
bench:
    npm run bench

# A 3-node Restate cluster on loopback in the foreground (ingress 8080/8180/8280, admin 9070/9170/9270); Ctrl-C stops it
cluster-restate *args:
    node --import tsx scripts/cluster-restate.ts {{args}}

# The local cluster in the foreground: 3 Restate nodes, 2 Gridiron nodes behind 127.0.0.1:9080, a registrar on :8081; Ctrl-C stops it
cluster-up *args:
    node --import tsx scripts/cluster-up.ts {{args}}

# Roles, the registrar lock and what each node of the local cluster serves (--json for JSON)
cluster-status *args:
    node --import tsx scripts/cluster-status.ts {{args}}

# Measure the local cluster's failovers on free ports: kill a Restate node, a Gridiron node, the registrar under load
cluster-drill *args:
    node --import tsx scripts/cluster-drill.ts {{args}}

# Build the all-in-one container image (container/Dockerfile)
docker-build:
    docker build -f container/Dockerfile -t {{image}} .

# Run the image in the foreground: ingress on 127.0.0.1:<GRIDIRON_INGRESS_PORT>, ./bundles mounted, state in a volume
docker-run:
    node bin/build-service.js --all --if-missing --out {{quote(bundles_dir)}}
    docker run --rm --name {{container}} --stop-timeout 30 \
        -p 127.0.0.1:{{ingress_port}}:8080 \
        -v {{volume}}:/data/state \
        -v {{quote(absolute_path(bundles_dir))}}:/data/bundles \
        {{image}}

# Remove the container, the image and the state volume (Restate's data, the version store)
docker-clean:
    -docker rm -f {{container}}
    -docker image rm {{image}}
    -docker volume rm {{volume}}
