# A deploy-rs style `deploy` output without deploy-rs or nixpkgs: the
# profile paths are plain derivations standing in for activation wrappers.
# testdata/plans/deployrs/deploy.json is `nix eval --json .#deploy` of it.
{
  outputs = { self }:
    let
      wrapper = name: derivation {
        inherit name;
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" "echo > $out" ];
      };
    in {
      deploy = {
        sshUser = "deploy";
        user = "root";
        confirmTimeout = 40;
        fastConnection = true;
        nodes = {
          web1 = {
            hostname = "web1.example.com";
            profilesOrder = [ "system" "app" ];
            profiles = {
              app = {
                path = wrapper "activatable-app-1.0";
                user = "app";
                magicRollback = false;
              };
              system.path = wrapper "activatable-nixos-system-web1";
            };
          };
          db1 = {
            hostname = "10.0.0.5:2200";
            sshOpts = [ "-o" "StrictHostKeyChecking=no" ];
            activationTimeout = 600;
            profiles.system = {
              path = wrapper "activatable-nixos-system-db1";
              profilePath = "/nix/var/nix/profiles/system";
            };
          };
          cache = {
            hostname = "cache.example.com";
            sshOpts = [ "-p" "2222" ];
            sudo = "doas -u";
            profiles.system.path = wrapper "activatable-nixos-system-cache";
          };
        };
      };
    };
}
