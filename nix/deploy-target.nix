# Prepares a NixOS machine for nix-deploy: a deploy user, its authorized
# keys, and a sudo rule. Nothing else: no trusted-users, no signing key, no
# open port (sshd is yours to configure).
#
# Why the sudo rule is "ALL": nix-deploy's privileged work is importing
# closures (`nix-store --import`), setting profiles and running activation
# through its agent, which it starts as `sudo sh -s` (a script on stdin).
# A rule limited to a list of commands would still have to allow `sh`, which
# is root for whoever holds the key. We say so rather than pretend to
# narrow it. What can be chosen is whether sudo asks for a password:
#   sudo = "nopasswd"  the key alone deploys (what CI needs);
#   sudo = "password"  the action also needs the sudo-password input;
#   sudo = "none"      the user has no sudo: only profiles it owns can be
#                      deployed (a home-manager or service profile as
#                      ssh-user = that user, sudo = "" in the plan).
{ config, lib, ... }:
let
  cfg = config.services.nix-deploy-target;
  inherit (lib) mkEnableOption mkIf mkOption types optional;
in
{
  options.services.nix-deploy-target = {
    enable = mkEnableOption "a user that nix-deploy can deploy through";

    user = mkOption {
      type = types.str;
      default = "deploy";
      description = "Name of the deploy user (the plan's ssh-user).";
    };

    authorizedKeys = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3Nza... ci@github" ];
      description = "Public keys allowed to log in as the deploy user: the CI key, and yours.";
    };

    sudo = mkOption {
      type = types.enum [ "nopasswd" "password" "none" ];
      default = "nopasswd";
      description = "Root rights of the deploy user through sudo: all commands without a password, all commands with a password, or none.";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.authorizedKeys != [ ];
        message = "services.nix-deploy-target.authorizedKeys is empty: nobody could log in as ${cfg.user}.";
      }
      {
        assertion = cfg.user != "root";
        message = "services.nix-deploy-target.user must not be root: nix-deploy logs in as a user with sudo.";
      }
    ];

    users.groups.${cfg.user} = { };
    users.users.${cfg.user} = {
      isNormalUser = true;
      group = cfg.user;
      description = "nix-deploy";
      openssh.authorizedKeys.keys = cfg.authorizedKeys;
    };

    security.sudo.extraRules = optional (cfg.sudo != "none") {
      users = [ cfg.user ];
      commands = [
        {
          command = "ALL";
          options = optional (cfg.sudo == "nopasswd") "NOPASSWD";
        }
      ];
    };
  };
}
