# Custom SDK container for Flink, Spark and Dataflow Runner v2:
#   docker build -t REGISTRY/wire-story-dedup:0.1.0 .
#   ... --sdk_container_image=REGISTRY/wire-story-dedup:0.1.0 (see docs/DEPLOY.md)
# The Beam version here, in requirements.txt and on the machine that submits the job must agree.
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}
ARG BEAM_VERSION

WORKDIR /opt/wire-story-dedup
COPY requirements.txt setup.py ./
RUN pip install --no-cache-dir -r requirements.txt
COPY schemas ./schemas
COPY dedup ./dedup
COPY transforms ./transforms
COPY pipeline ./pipeline
# A regular (not editable) install: workers import the packages from site-packages.
RUN pip install --no-cache-dir --no-deps . \
    && python -c "import apache_beam, pipeline.graph; assert apache_beam.__version__ == '${BEAM_VERSION}'"

# The base image's entrypoint is the Beam SDK harness boot program; keep it.
