# Evaluates the repository's flake.nix and its NixOS module without nixpkgs
# (there is none offline): lib and pkgs are stubs that record what they are
# given, so the test sees the flake's shape and the module's settings.
let
  systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
  lib = {
    genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    mkOption = o: o // { _type = "option"; };
    mkEnableOption = what: { _type = "option"; default = false; description = "Whether to enable ${what}."; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    optional = c: x: if c then [ x ] else [ ];
    types = {
      str = "str";
      listOf = t: "listOf ${t}";
      enum = values: "enum ${builtins.concatStringsSep "," values}";
    };
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  };
  pkgsFor = system: {
    inherit system lib;
    go = "go";
    gopls = "gopls";
    nix = "nix";
    openssh = "openssh";
    sudo = "sudo";
    shellcheck = "shellcheck";
    git = "git";
    buildGoModule.override = { go }: args: args // { usedGo = go; outPath = "/nix/store/00000000000000000000000000000000-nix-deploy"; };
    mkShell = args: args;
  };
  nixpkgs = { inherit lib; legacyPackages = lib.genAttrs systems pkgsFor; };
  flake = import ../../../flake.nix;
  outputs = flake.outputs { self = outputs; inherit nixpkgs; };
  target = values: outputs.nixosModules.deploy-target {
    inherit lib;
    config.services.nix-deploy-target = values;
  };
  enabled = sudo: (target {
    enable = true;
    user = "deploy";
    authorizedKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDnvPexWZQf5mYIY00ByIcIZQHihCgpOhlddKOkQfpg ci" ];
    inherit sudo;
  }).config;
in
{
  inputs = builtins.attrNames flake.inputs;
  systems = builtins.attrNames outputs.packages;
  package = {
    inherit (outputs.packages.x86_64-linux.default) pname subPackages vendorHash ldflags doCheck usedGo;
  };
  app = outputs.apps.x86_64-linux.default;
  devShellPackages = outputs.devShells.x86_64-linux.default.packages;
  options = builtins.attrNames (target { }).options.services.nix-deploy-target;
  nopasswd = enabled "nopasswd";
  password = enabled "password";
  none = enabled "none";
}
