#!/usr/bin/env python3
"""Starts moto's server with the patches kops's Terraform needs (test support, never installed).

Usage: launch.py -H 127.0.0.1 -p PORT   (the arguments of `moto_server`)
       KOPSFORM_MOTO_WITHOUT=patch,patch leaves the named patches out (to show what one is for)

Each patch below restores one behaviour of AWS that kops's generated `kubernetes.tf`, applied by the
real hashicorp/aws provider, relies on and that moto lacks. Every patch names the behaviour it
restores; docs/testing.md lists them.

The patches reach into moto's internals as of moto 5.2.1 (the version they were written and tested
against). A moto whose internals moved makes the launcher fail at start with a Python error, which
the tests show with moto's log; they never run an unpatched moto by accident.
"""

import os
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


def launch_template_own_tags():
    """AWS: the tags of CreateLaunchTemplate's TagSpecifications (resource type "launch-template")
    tag the template itself; they are not part of the template's data.

    moto also copies them into the first version's LaunchTemplateData.TagSpecifications, so the
    provider reads back an extra `tag_specifications { resource_type = "launch-template" }` block
    and plans an in-place update of every kops launch template after every apply.
    """
    from moto.ec2.models.launch_templates import LaunchTemplateBackend

    original = LaunchTemplateBackend.create_launch_template

    def create_launch_template(self, name, description, template_data, tag_spec, *args, **kwargs):
        specs = template_data.get("TagSpecifications")
        if specs:
            template_data["TagSpecifications"] = [
                spec for spec in specs if spec.get("ResourceType") != "launch-template"
            ]
        return original(self, name, description, template_data, tag_spec, *args, **kwargs)

    LaunchTemplateBackend.create_launch_template = create_launch_template


def launch_template_version_user_data():
    """AWS: CreateLaunchTemplateVersion stores UserData as the base64 text it was given, exactly as
    CreateLaunchTemplate does.

    moto decodes it for CreateLaunchTemplate only; a version made by CreateLaunchTemplateVersion
    (the provider's in-place update of a launch template, e.g. a new machine type) keeps a plain
    string that moto's instance launch rejects, so every later scale-out of its group is an HTTP 500.
    """
    from moto.ec2.models.launch_templates import LaunchTemplate
    from moto.ec2.utils import parse_user_data

    original = LaunchTemplate.create_version

    def create_version(self, data, *args, **kwargs):
        user_data = data.get("UserData")
        if isinstance(user_data, (str, bytes)):
            data["UserData"] = parse_user_data(user_data)
        return original(self, data, *args, **kwargs)

    LaunchTemplate.create_version = create_version


def group_max_instance_lifetime():
    """AWS: CreateAutoScalingGroup and UpdateAutoScalingGroup keep MaxInstanceLifetime, and
    DescribeAutoScalingGroups reports it.

    moto drops it, so a kops node group with `maxInstanceLifetime` plans `0 -> 174000` forever.
    """
    from moto.autoscaling.responses import AutoScalingResponse

    def keeping_lifetime(original):
        def handler(self):
            result = original(self)
            lifetime = self._get_int_param("MaxInstanceLifetime")
            if lifetime is not None:
                name = self._get_param("AutoScalingGroupName")
                group = self.autoscaling_backend.autoscaling_groups[name]
                group.max_instance_lifetime = lifetime
            return result

        return handler

    for action in ("create_auto_scaling_group", "update_auto_scaling_group"):
        setattr(AutoScalingResponse, action, keeping_lifetime(getattr(AutoScalingResponse, action)))


def lifecycle_hook_targets():
    """AWS: a lifecycle hook has the NotificationTargetARN, RoleARN and NotificationMetadata it was
    put with, and none when none were given.

    moto reports the same made-up queue and role ARNs for every hook, so kops's hooks (which have
    no notification target: the termination handler reads EventBridge) plan `-> null` forever.
    """
    from moto.autoscaling.responses import AutoScalingResponse

    original = AutoScalingResponse.put_lifecycle_hook

    def put_lifecycle_hook(self):
        result = original(self)
        key = f"{self._get_param('AutoScalingGroupName')}_{self._get_param('LifecycleHookName')}"
        hook = self.autoscaling_backend.lifecycle_hooks[key]
        hook.notification_target_arn = self._get_param("NotificationTargetARN")
        hook.role_arn = self._get_param("RoleARN")
        hook.notification_metadata = self._get_param("NotificationMetadata")
        return result

    AutoScalingResponse.put_lifecycle_hook = put_lifecycle_hook


def dhcp_options_tags():
    """AWS: CreateDhcpOptions tags the new options set with its TagSpecifications.

    moto ignores them, so the tags kops puts on its DHCP options plan as added after every apply.
    """
    from moto.ec2.responses.dhcp_options import DHCPOptions

    original = DHCPOptions.create_dhcp_options

    def create_dhcp_options(self):
        result = original(self)
        tags = self._parse_tag_specification().get("dhcp-options", {})
        if tags:
            self.ec2_backend.create_tags([result.result["DhcpOptions"].id], tags)
        return result

    DHCPOptions.create_dhcp_options = create_dhcp_options


def group_instances_on_their_version():
    """AWS: an Auto Scaling group launches from the launch template version it names, and
    DescribeAutoScalingGroups reports each instance on the version it was launched from.

    moto launches every instance of a group from the template's default version (its tags, disks
    and instance-store mappings), and reports every instance on the default version too. After an
    in-place template update (kops's groups name `latest_version`) old and new instances both look
    current, or both stale, and a rolling update's NeedsUpdate answer is wrong. Launches by a group
    now name the group's version, and each instance remembers the version it came from.
    """
    import threading

    from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState
    from moto.ec2.models.instances import InstanceBackend

    launching = threading.local()

    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_autoscaling_group_instances(self, *args, **kwargs):
        template = self.ec2_launch_template
        launching.version = (
            str(template.get_version(self.launch_template_version).number) if template else None
        )
        try:
            return original_replace(self, *args, **kwargs)
        finally:
            launching.version = None

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances

    original_run = InstanceBackend.run_instances

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        template_arg = kwargs.get("launch_template")
        group_version = getattr(launching, "version", None)
        if template_arg and group_version and "Version" not in template_arg:
            kwargs["launch_template"] = dict(template_arg, Version=group_version)
        reservation = original_run(self, image_id, count, user_data, security_group_names, **kwargs)
        if kwargs.get("launch_template"):
            number = str(self._get_template_from_args(kwargs["launch_template"]).number)
            for instance in reservation.instances:
                instance.launched_from_template_version = number
        return reservation

    InstanceBackend.run_instances = run_instances

    reported = InstanceState.launch_template

    def launch_template(self):
        template = reported.fget(self)
        version = getattr(self.instance, "launched_from_template_version", None)
        if template is not None and version is not None:
            template["Version"] = version
        return template

    InstanceState.launch_template = property(launch_template)


def serialize_requests():
    """AWS: every API call is atomic; concurrent calls on one bucket or security group see each
    other whole.

    moto's server answers each request on a thread of its own, and its backends are not
    thread-safe. Terraform runs ten operations at once: deleting the managed files of kops's
    versioned state bucket, ListObjectVersions iterated the bucket's keys while other threads
    deleted them and failed with HTTP 500 (`TypeError: 'NoneType' object is not iterable`), which
    failed `terraform destroy`. Requests are handled one at a time (each takes milliseconds).
    """
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lock = threading.Lock()
    original = DomainDispatcherApplication.__call__

    def one_at_a_time(self, environ, start_response):
        with lock:
            # the whole response is produced under the lock: moto's answers are not streamed
            return list(original(self, environ, start_response))

    DomainDispatcherApplication.__call__ = one_at_a_time


def kops_images():
    """AWS: the images an instance group names exist, with their owner, name and root device.

    kops resolves `spec.image` with DescribeImages (`owner/name`, the owner alias mapped to its
    well-known account) and takes the launch template's root device name from the image. moto's
    built-in images have other names and owners, so the images the tests name are loaded from
    tests/moto/amis.json (moto's MOTO_AMIS_PATH, read when moto is imported). A test may name
    another file in MOTO_AMIS_PATH itself.
    """
    os.environ.setdefault("MOTO_AMIS_PATH", os.path.join(os.path.dirname(os.path.abspath(__file__)), "amis.json"))


def subnet_route_table_associations():
    """AWS: deleting a subnet ends its route table associations (the subnet's association is gone
    from DescribeRouteTables), so the route table can be deleted next.

    moto keeps the association of a deleted subnet, and DeleteRouteTable answers DependencyViolation
    for ever: `kops delete cluster`, which deletes a route table after the subnets associated with
    it (kops: pkg/resources/aws/routetable.go, `Blocked`), never finishes. Deleting a subnet now
    drops its associations.
    """
    from moto.ec2.models.subnets import SubnetBackend

    original = SubnetBackend.delete_subnet

    def delete_subnet(self, subnet_id):
        subnet = original(self, subnet_id)
        for table in getattr(self, "route_tables", {}).values():
            for association_id, target in list(table._associations.items()):
                if target == subnet_id:
                    del table._associations[association_id]
        return subnet

    SubnetBackend.delete_subnet = delete_subnet


def vpc_keeps_dhcp_options():
    """AWS: DeleteVpc leaves the VPC's DHCP options set; it is deleted on its own
    (DeleteDhcpOptions), once no VPC uses it.

    moto deletes the options set together with the VPC, so `kops delete cluster`, which deletes the
    cluster's tagged options after its VPC (kops: pkg/resources/aws/vpc.go, `Blocks`), gets
    InvalidDhcpOptionID.NotFound, an error kops does not take for "already deleted" (it expects
    InvalidDhcpOptionsID.NotFound, pkg/resources/aws/aws.go `DeleteDhcpOptions`) and retries until
    it gives up. The options set now outlives the VPC.
    """
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.delete_vpc

    def delete_vpc(self, vpc_id):
        vpc = self.vpcs.get(vpc_id)
        options = vpc.dhcp_options if vpc is not None else None
        if options is not None:
            vpc.dhcp_options = None
        try:
            result = original(self, vpc_id)
        except Exception:
            if options is not None:
                vpc.dhcp_options = options
            raise
        if options is not None:
            options.vpc = None
        return result

    VPCBackend.delete_vpc = delete_vpc


def log_duplicate_rules():
    """Not a patch (moto answers as before): a diagnostic for the rare `InvalidPermission.Duplicate`
    seen once in about fifteen applies of minimal-aws (an `aws_security_group_rule` create failed).

    Each security group rule moto adds is remembered with the time and thread that added it; when an
    Authorize call is refused as a duplicate, one line names the group, the rule, and when and by
    which request thread the existing rule was added. A rule added a moment earlier by another
    thread is a request retried after its first attempt was processed (the provider retries on a
    dropped connection); a rule added long before, or by nothing, points elsewhere.
    Found so far (see the report of the double-cloud branch): moto's duplicate check does not race
    for distinct rules (eight threads adding 48 rules to one group, ten groups at once: no
    duplicate, no lost rule), and the provider serializes rule changes per group anyway.
    """
    import threading
    import time

    from moto.ec2.exceptions import InvalidPermissionDuplicateError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    added = {}

    def rule_key(rule):
        return (rule.group_id, rule.is_egress, rule.ip_protocol, str(rule.from_port), str(rule.to_port),
                repr(sorted((rule.ip_range or {}).items())), repr(rule.source_group), repr(rule.prefix_list_id))

    def watching(original, direction):
        def authorize(self, *args, **kwargs):
            try:
                rules, group = original(self, *args, **kwargs)
            except InvalidPermissionDuplicateError:
                ids = args[0] if args else kwargs.get("group_name_or_id")
                earlier = [
                    "%s at %.3f by %s" % (key[2:], when, thread)
                    for key, (when, thread) in added.items()
                    if key[0] == ids and key[1] == (direction == "egress")
                ]
                print(
                    "kopsform moto launcher: InvalidPermission.Duplicate (%s) on %s at %.3f in %s; "
                    "the group's rules added so far: %s"
                    % (direction, ids, time.time(), threading.current_thread().name,
                       "; ".join(earlier) or "none through Authorize (the rule is one moto made itself, "
                       "such as a new group's default egress rule)"),
                    file=sys.stderr,
                    flush=True,
                )
                raise
            for rule in rules:
                added[rule_key(rule)] = (time.time(), threading.current_thread().name)
            return rules, group

        return authorize

    for direction in ("ingress", "egress"):
        name = "authorize_security_group_" + direction
        setattr(SecurityGroupBackend, name, watching(getattr(SecurityGroupBackend, name), direction))


PATCHES = [
    serialize_requests,
    kops_images,
    register_fake_region,
    subnet_private_dns_options,
    instance_store_mappings,
    launch_template_own_tags,
    launch_template_version_user_data,
    group_max_instance_lifetime,
    lifecycle_hook_targets,
    dhcp_options_tags,
    group_instances_on_their_version,
    subnet_route_table_associations,
    vpc_keeps_dhcp_options,
]


def main():
    # KOPSFORM_MOTO_WITHOUT=name,name leaves those patches out: to see what a patch is for.
    left_out = {n for n in os.environ.get("KOPSFORM_MOTO_WITHOUT", "").split(",") if n}
    unknown = left_out - {patch.__name__ for patch in PATCHES}
    if unknown:
        sys.exit(f"KOPSFORM_MOTO_WITHOUT names no patch: {', '.join(sorted(unknown))}")
    from importlib.metadata import version

    print(f"kopsform moto launcher: moto {version('moto')}", file=sys.stderr)
    for patch in PATCHES:
        if patch.__name__ in left_out:
            print(f"kopsform moto launcher: without {patch.__name__}", file=sys.stderr)
            continue
        patch()
    log_duplicate_rules()
    from moto.server import main as serve

    serve(sys.argv[1:])


if __name__ == "__main__":
    main()
