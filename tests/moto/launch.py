#!/usr/bin/env python3
"""Starts moto's server with the patches kops's Terraform needs (test support, never installed).

Usage: launch.py -H 127.0.0.1 -p PORT   (the arguments of `moto_server`)

Each patch below restores one behaviour of AWS that kops's generated `kubernetes.tf`, applied by the
real hashicorp/aws provider, relies on and that moto lacks. Every patch names the behaviour it
restores; docs/testing.md lists them.
"""

import sys

# kops's integration fixtures live in the fake region `us-test-1` with the zones us-test-1a..c.
FAKE_REGION = "us-test-1"
FAKE_ZONES = ("a", "b", "c")


def register_fake_region():
    """AWS: every regional service answers in the region a request is signed for.

    moto only serves the regions botocore knows, so a request signed for kops's `us-test-1` finds no
    backend and every EC2 call ends in HTTP 500. The region is added to every service's region list,
    and EC2 gets the region and its zones (DescribeAvailabilityZones, subnets in us-test-1a).
    """
    from moto.core import base_backend
    from moto.ec2.models import availability_zones_and_regions as zones_module

    original = base_backend.AccountSpecificBackend._generate_regions

    def with_fake_region(self, service_name):
        regions = list(original(self, service_name))
        if FAKE_REGION not in regions:
            regions.append(FAKE_REGION)
        return regions

    base_backend.AccountSpecificBackend._generate_regions = with_fake_region

    backend = zones_module.RegionsAndZonesBackend
    backend.regions.append(
        zones_module.Region(FAKE_REGION, f"ec2.{FAKE_REGION}.amazonaws.com", "opt-in-not-required")
    )
    backend.zones[FAKE_REGION] = [
        zones_module.Zone(
            region_name=FAKE_REGION, name=f"{FAKE_REGION}{letter}", zone_id=f"ustest1-az{n}"
        )
        for n, letter in enumerate(FAKE_ZONES, start=1)
    ]


def subnet_private_dns_options():
    """AWS: ModifySubnetAttribute sets PrivateDnsHostnameTypeOnLaunch ("ip-name" or
    "resource-name") and EnableResourceNameDnsAAAARecordOnLaunch.

    moto ignores both, so the provider, which waits for DescribeSubnets to show the hostname type
    it asked for (kops asks for "resource-name"), polls for five minutes and fails the apply.
    """
    from moto.ec2.responses.subnets import Subnets

    original = Subnets.modify_subnet_attribute

    def modify_subnet_attribute(self):
        subnet = self.ec2_backend.get_subnet(self._get_param("SubnetId"))
        options = subnet.private_dns_name_options_on_launch
        hostname_type = self._get_param("PrivateDnsHostnameTypeOnLaunch")
        if hostname_type is not None:
            options["HostnameType"] = hostname_type
        aaaa = self._get_param("EnableResourceNameDnsAAAARecordOnLaunch.Value")
        if aaaa is not None:
            options["EnableResourceNameDnsAAAARecord"] = str(aaaa).lower() == "true"
        return original(self)

    Subnets.modify_subnet_attribute = modify_subnet_attribute


def instance_store_mappings():
    """AWS: a launch template's instance-store mapping (`VirtualName: ephemeral0`, no `Ebs`) gives
    an instance an instance-store disk, not an EBS volume.

    moto reads `Ebs` from every mapping when it launches an instance from a template, so an Auto
    Scaling group whose template has one (kops's control-plane templates do) fails every launch
    with KeyError 'Ebs' (HTTP 500) and the provider retries until it gives up. Launches now see
    the template's EBS mappings only; the template itself keeps every mapping it was given.
    """
    from moto.ec2.models.instances import InstanceBackend

    original = InstanceBackend._get_template_from_args

    class EbsMappingsOnly:
        def __init__(self, version):
            self._version = version
            data = dict(version.data)
            if "BlockDeviceMappings" in data:
                data["BlockDeviceMappings"] = [
                    m for m in data["BlockDeviceMappings"] if "Ebs" in m
                ]
            self.data = data

        def __getattr__(self, name):
            return getattr(self._version, name)

    def template_for_launch(self, launch_template_arg):
        return EbsMappingsOnly(original(self, launch_template_arg))

    InstanceBackend._get_template_from_args = template_for_launch


PATCHES = [
    register_fake_region,
    subnet_private_dns_options,
    instance_store_mappings,
]


def main():
    for patch in PATCHES:
        patch()
    from moto.server import main as serve

    serve(sys.argv[1:])


if __name__ == "__main__":
    main()
