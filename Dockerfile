# The kopsform image (docs/install.md): kopsform with the kops, Terraform and AWS CLI versions
# pinned below, as a non-root user. Build: docker build -t kopsform .
#
# Every tool download goes through docker/fetch-verified, which installs nothing whose SHA-256
# differs from the expected one: the *_SHA256_* argument when it is set (a pin), otherwise the
# checksum file that kops and HashiCorp publish with that exact version. The AWS CLI has no such
# file, so its digest must be pinned, or the build stops. Pinned below: Terraform (both
# architectures) and the AWS CLI (amd64); kops is checked against its release's .sha256 files.
# The pins were taken from public records of these exact files, not computed where this file
# was written (docs/install.md): a wrong pin stops the build, it cannot let another file in.

# The base images, by tag; pass NAME@sha256:... to pin a digest.
ARG RUST_IMAGE=rust:1.89-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

# kopsform's version (Cargo.toml's; the build refuses another) and commit, for the labels.
ARG KOPSFORM_VERSION=0.1.0
ARG KOPSFORM_REVISION=unknown

ARG KOPS_VERSION=1.36.2
ARG KOPS_SHA256_AMD64=
ARG KOPS_SHA256_ARM64=
ARG TERRAFORM_VERSION=1.11.4
ARG TERRAFORM_SHA256_AMD64=1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc
ARG TERRAFORM_SHA256_ARM64=a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633
ARG AWSCLI_VERSION=2.27.49
ARG AWSCLI_SHA256_AMD64=93842f724f8b76fbee05ac6a403dad603043b04eecfe3526f2035494718eb87b
ARG AWSCLI_SHA256_ARM64=

FROM ${RUST_IMAGE} AS kopsform
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
ARG KOPSFORM_VERSION
RUN crate_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1) \
    && if [ "$crate_version" != "$KOPSFORM_VERSION" ]; then \
         echo "KOPSFORM_VERSION=$KOPSFORM_VERSION but Cargo.toml says $crate_version" >&2; exit 1; \
       fi \
    && cargo build --release --locked --bin kopsform \
    && install -m 0755 target/release/kopsform /usr/local/bin/kopsform

FROM ${DEBIAN_IMAGE} AS tools
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# Debian's own versions of these: apt checks them against the signed archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl unzip \
    && rm -rf /var/lib/apt/lists/*
COPY docker/fetch-verified /usr/local/bin/fetch-verified
WORKDIR /downloads
ARG TARGETARCH
ARG KOPS_VERSION
ARG KOPS_SHA256_AMD64
ARG KOPS_SHA256_ARM64
ARG TERRAFORM_VERSION
ARG TERRAFORM_SHA256_AMD64
ARG TERRAFORM_SHA256_ARM64
ARG AWSCLI_VERSION
ARG AWSCLI_SHA256_AMD64
ARG AWSCLI_SHA256_ARM64
RUN arch=${TARGETARCH:-$(dpkg --print-architecture)} \
    && case "$arch" in \
         amd64) aws_arch=x86_64; kops_sha=$KOPS_SHA256_AMD64; tf_sha=$TERRAFORM_SHA256_AMD64; aws_sha=$AWSCLI_SHA256_AMD64 ;; \
         arm64) aws_arch=aarch64; kops_sha=$KOPS_SHA256_ARM64; tf_sha=$TERRAFORM_SHA256_ARM64; aws_sha=$AWSCLI_SHA256_ARM64 ;; \
         *) echo "no kops/Terraform/AWS CLI build for $arch" >&2; exit 1 ;; \
       esac \
    && mkdir -p /opt/tools/bin \
    && kops=https://github.com/kubernetes/kops/releases/download/v$KOPS_VERSION/kops-linux-$arch \
    && fetch-verified "$kops" /opt/tools/bin/kops "$kops_sha" "$kops.sha256" \
    && chmod 0755 /opt/tools/bin/kops \
    && tf=https://releases.hashicorp.com/terraform/$TERRAFORM_VERSION \
    && fetch-verified "$tf/terraform_${TERRAFORM_VERSION}_linux_$arch.zip" terraform.zip "$tf_sha" \
         "$tf/terraform_${TERRAFORM_VERSION}_SHA256SUMS" \
    && unzip -q terraform.zip terraform -d /opt/tools/bin \
    && fetch-verified "https://awscli.amazonaws.com/awscli-exe-linux-$aws_arch-$AWSCLI_VERSION.zip" awscli.zip "$aws_sha" \
    && unzip -q awscli.zip \
    && ./aws/install --install-dir /opt/aws-cli --bin-dir /opt/tools/bin \
    && rm -rf /downloads/*

FROM ${DEBIAN_IMAGE}
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# git for the audit trail's commit, ssh for git remotes; Debian's versions (see above).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin kopsform \
    && install -d -o kopsform -g kopsform /work
COPY --from=tools /opt/aws-cli /opt/aws-cli
COPY --from=tools /opt/tools/bin/ /usr/local/bin/
COPY --from=kopsform /usr/local/bin/kopsform /usr/local/bin/kopsform
COPY LICENSE /usr/share/doc/kopsform/LICENSE
ARG KOPSFORM_VERSION
ARG KOPSFORM_REVISION
ARG KOPS_VERSION
ARG TERRAFORM_VERSION
ARG AWSCLI_VERSION
LABEL org.opencontainers.image.title="kopsform" \
      org.opencontainers.image.description="A Make-style task runner that bridges Terraform layers through kOps, with kops, Terraform and the AWS CLI" \
      org.opencontainers.image.version="$KOPSFORM_VERSION" \
      org.opencontainers.image.revision="$KOPSFORM_REVISION" \
      org.opencontainers.image.source="https://github.com/kopsform/kopsform" \
      org.opencontainers.image.url="https://github.com/kopsform/kopsform" \
      org.opencontainers.image.documentation="https://github.com/kopsform/kopsform/blob/main/docs/install.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.github.kopsform.kopsform.version="$KOPSFORM_VERSION" \
      io.github.kopsform.kops.version="$KOPS_VERSION" \
      io.github.kopsform.terraform.version="$TERRAFORM_VERSION" \
      io.github.kopsform.awscli.version="$AWSCLI_VERSION"
USER 10001:10001
WORKDIR /work
ENV HOME=/home/kopsform \
    CHECKPOINT_DISABLE=1
# Each tool runs here, on the image's own architecture, or the build fails.
RUN kopsform --version && kops version && terraform version && aws --version
ENTRYPOINT ["kopsform"]
CMD ["--help"]
