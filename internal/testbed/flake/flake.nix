# Fake NixOS systems for the nix-deploy testbed, written by internal/testbed.
# No inputs: there is no nixpkgs offline, so every path is a plain derivation
# built by ./build.sh with the build machine's /bin/sh and coreutils.
#
# Files the testbed (and tests) edit, read at evaluation time:
#   release/<node>    version string of the node's next generation
#   behaviour/<node>  what its switch-to-configuration does (see
#                     switch-to-configuration.sh)
#   payload-kib       size of each package's data, for transfer benchmarks
#   system            the build platform
{
  description = "nix-deploy testbed: fake NixOS systems";

  outputs = { self }:
    let
      word = s:
        let m = builtins.match "[[:space:]]*([^[:space:]]+)[[:space:]]*" s;
        in if m == null then throw "testbed: expected one word, got '${s}'" else builtins.head m;
      readWord = path: word (builtins.readFile path);

      system = readWord ./system;
      payloadKiB = readWord ./payload-kib;
      nodeNames = builtins.attrNames (builtins.readDir ./release);
      releaseOf = node: readWord (./release + "/${node}");
      behaviourOf = node:
        let f = ./behaviour + "/${node}";
        in if builtins.pathExists f then readWord f else "ok";

      build = kind: name: attrs: builtins.derivation ({
        inherit name system kind payloadKiB;
        builder = "/bin/sh";
        args = [ ./build.sh ];
        PATH = "/usr/bin:/bin";
        # Nothing here is in any binary cache: don't ask one (offline
        # machines would wait on retries before every build).
        allowSubstitutes = false;
        preferLocalBuild = true;
      } // attrs);

      package = pname: version: attrs:
        build "package" "${pname}-${version}" ({ inherit pname version; deps = [ ]; } // attrs);

      # The same in every generation of every node: transfers of a new
      # generation skip them.
      glibc = package "glibc" "2.39-52" { };
      hello = package "hello" "2.12.1" { deps = [ glibc ]; };

      systemFor = node:
        let
          release = releaseOf node;
          openssl = package "openssl" "3.0.${release}" {
            outputs = [ "out" "bin" ];
            deps = [ glibc ];
          };
          libfoo = package "libfoo" "1.${release}" { deps = [ openssl glibc ]; };
          sw = build "system-path" "system-path" { packages = [ hello openssl.bin libfoo ]; };
          etc = build "etc" "etc" {
            inherit release;
            hostname = node;
            deps = [ openssl ];
          };
        in
        build "toplevel" "nixos-system-${node}-${release}" {
          inherit sw etc release;
          hostname = node;
          behaviour = behaviourOf node;
          switch = ./switch-to-configuration.sh;
          healthcheck = ./healthcheck.sh;
        };

      # A custom profile per node (a service's own profile, deployed with
      # installable + activate): bin/activate records each activation in
      # /nix/var/testbed/app-activations.log. Its version follows the node's
      # release, so a new release changes it too.
      appFor = node:
        let release = releaseOf node;
        in builtins.derivation {
          inherit system;
          name = "app-${node}-${release}";
          builder = "/bin/sh";
          PATH = "/usr/bin:/bin";
          allowSubstitutes = false;
          preferLocalBuild = true;
          script = ''
            #!/bin/sh
            printf '%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(dirname "$(dirname "$(readlink -f "$0")")")" >>/nix/var/testbed/app-activations.log
          '';
          args = [ "-c" "mkdir -p $out/bin && printf '%s' \"$script\" >$out/bin/activate && chmod 0555 $out/bin/activate" ];
        };
    in
    {
      nixosConfigurations = builtins.listToAttrs (map
        (node: {
          name = node;
          value.config.system.build.toplevel = systemFor node;
        })
        nodeNames);

      packages.${system} = builtins.listToAttrs (map
        (node: {
          name = "app-${node}";
          value = appFor node;
        })
        nodeNames);
    };
}
